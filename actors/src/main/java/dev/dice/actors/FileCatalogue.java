package dev.dice.actors;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What a {@link FileServer} serves: files by relative path, and the token of its directory (null: none). */
public interface FileCatalogue {

    /** The served files' paths, in the order a node fetches them. */
    List<String> paths();

    /** The file served as {@code path}, or null when {@code path} is not served. */
    Path resolve(String path);

    String token();

    /** {@code files} served by their file names (a tokenizer's files), with no directory token. */
    static FileCatalogue of(List<Path> files) {
        Map<String, Path> byName = new LinkedHashMap<>();
        files.forEach(f -> byName.put(f.getFileName().toString(), f));
        return new FileCatalogue() {
            @Override
            public List<String> paths() {
                return byName.keySet().stream().filter(name -> Files.isRegularFile(byName.get(name))).toList();
            }

            @Override
            public Path resolve(String path) {
                return byName.get(path);
            }

            @Override
            public String token() {
                return null;
            }
        };
    }
}
