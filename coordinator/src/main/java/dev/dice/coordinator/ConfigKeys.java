package dev.dice.coordinator;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigOrigin;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import dev.dice.algo.EditDistance;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Keys under {@code dice} that no reference.conf defines: a typo such as {@code rounds.kk} would otherwise be ignored
 * and the run would go on with the default. Known keys are the reference configuration's; a preset's keys are
 * checked as the {@code dice} keys they override.
 */
final class ConfigKeys {
    /** Blocks whose keys belong to a library (a Pekko dispatcher takes many settings we do not list). */
    private static final Set<String> OPEN = Set.of("dice.model-dispatcher");

    private ConfigKeys() {}

    /** One line per unknown key of {@code root}: where it was set, and the nearest known key. */
    static List<String> unknown(Config root, Config reference) {
        List<String> problems = new ArrayList<>();
        ConfigObject known = reference.getObject("dice");
        walk("dice", root.getObject("dice"), known, known, problems);
        return problems;
    }

    private static void walk(String path, ConfigObject given, ConfigObject known, ConfigObject dice, List<String> problems) {
        for (Map.Entry<String, ConfigValue> e : given.entrySet()) {
            String key = path + "." + e.getKey();
            ConfigValue reference = known.get(e.getKey());
            if (key.equals("dice.presets") && e.getValue() instanceof ConfigObject presets) {
                for (ConfigValue preset : presets.values()) {
                    if (preset instanceof ConfigObject p) {
                        walk("dice", p, dice, dice, problems);
                    }
                }
            } else if (reference == null) {
                problems.add(where(e.getValue().origin()) + "unknown configuration key " + key
                        + nearest(e.getKey(), path, known));
            } else if (!OPEN.contains(key) && reference.valueType() == ConfigValueType.OBJECT
                    && e.getValue() instanceof ConfigObject inner) {
                walk(key, inner, (ConfigObject) reference, dice, problems);
            }
        }
    }

    private static String nearest(String key, String path, ConfigObject known) {
        String best = null;
        int distance = Integer.MAX_VALUE;
        for (String candidate : known.keySet()) {
            int d = EditDistance.levenshtein(key, candidate);
            if (d < distance) {
                best = candidate;
                distance = d;
            }
        }
        // A suggestion far from what was typed misleads more than it helps.
        return best != null && distance <= Math.max(2, key.length() / 2) ? " (did you mean " + path + "." + best + "?)"
                : " (known keys here: " + String.join(", ", new TreeSet<>(known.keySet())) + ")";
    }

    /** "file:line: " for a key set in a file; nothing for one set on the command line or in code. */
    private static String where(ConfigOrigin origin) {
        if (origin == null || origin.filename() == null) {
            return "";
        }
        return origin.filename() + (origin.lineNumber() > 0 ? ":" + origin.lineNumber() : "") + ": ";
    }
}
