package dev.dice.gpu.chat;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.gpu.BadInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a tokenizer_config.json says about chat: the template and the special tokens transformers passes to it.
 * {@code chat_template} is a string, or a list of {@code {"name", "template"}} of which the one named
 * {@code default} is used; a token is a string or an AddedToken object {@code {"content": ...}}.
 */
record TokenizerChatConfig(Path file, String template, Map<String, String> specialTokens) {

    /** The special tokens transformers' apply_chat_template passes as variables, each when it is set. */
    static final List<String> SPECIAL_TOKENS =
            List.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Empty when the file has no (or a null) chat_template; BadInputException naming the field otherwise. */
    static Optional<TokenizerChatConfig> read(Path file) {
        JsonNode root = parse(file);
        JsonNode field = root.get("chat_template");
        if (field == null || field.isNull()) {
            return Optional.empty();
        }
        String template = template(file, field);
        Map<String, String> tokens = new LinkedHashMap<>();
        for (String name : SPECIAL_TOKENS) {
            String token = token(file, name, root.get(name));
            if (token != null) {
                tokens.put(name, token);
            }
        }
        return Optional.of(new TokenizerChatConfig(file, template, Map.copyOf(tokens)));
    }

    private static JsonNode parse(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (JacksonException e) {
            throw new BadInputException(file + ": not valid JSON: " + e.getOriginalMessage().replaceAll("\\s+", " "));
        } catch (IOException e) {
            throw new BadInputException(file + ": cannot read: " + e);
        }
        if (root == null || !root.isObject()) {
            throw new BadInputException(file + ": expected a JSON object, found " + kind(root));
        }
        return root;
    }

    private static String template(Path file, JsonNode field) {
        if (field.isTextual()) {
            return field.textValue();
        }
        if (!field.isArray()) {
            throw bad(file, "chat_template",
                    "expected a string or a list of {\"name\": ..., \"template\": ...}, found " + kind(field));
        }
        List<String> names = new ArrayList<>();
        String chosen = null;
        for (int i = 0; i < field.size(); i++) {
            JsonNode entry = field.get(i);
            JsonNode name = entry.get("name");
            JsonNode template = entry.get("template");
            if (!entry.isObject() || name == null || !name.isTextual() || template == null || !template.isTextual()) {
                throw bad(file, "chat_template[" + i + "]",
                        "expected {\"name\": string, \"template\": string}, found " + abbreviate(entry.toString()));
            }
            names.add(name.textValue());
            if (name.textValue().equals("default") && chosen == null) {
                chosen = template.textValue();
            }
        }
        if (chosen == null) {
            throw bad(file, "chat_template", "a list of named templates with none named 'default' (names found: "
                    + (names.isEmpty() ? "none" : String.join(", ", names)) + ")");
        }
        return chosen;
    }

    private static String token(Path file, String name, JsonNode value) {
        if (value == null || value.isNull()) {
            return null;
        }
        if (value.isTextual()) {
            return value.textValue();
        }
        JsonNode content = value.isObject() ? value.get("content") : null;
        if (content != null && content.isTextual()) {
            return content.textValue();
        }
        throw bad(file, name, "expected a string or an object with a string 'content', found " + kind(value));
    }

    static BadInputException bad(Path file, String field, String what) {
        return new BadInputException(file + ": field '" + field + "': " + what);
    }

    private static String kind(JsonNode node) {
        return node == null ? "nothing" : node.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }
}
