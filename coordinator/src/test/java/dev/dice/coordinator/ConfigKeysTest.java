package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.ConfigFactory;
import dev.dice.algo.EditDistance;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigKeysTest {
    private static final com.typesafe.config.Config REFERENCE = ConfigFactory.parseString(
            "dice { rounds { k = 8, gamma = 0.5 }, model-dispatcher { type = Dispatcher }, presets { smoke { } } }");

    private static List<String> unknown(String user) {
        return ConfigKeys.unknown(ConfigFactory.parseString(user).withFallback(REFERENCE), REFERENCE);
    }

    @Test
    void knownKeysPassAndLibraryBlocksAreOpen() {
        assertEquals(List.of(), unknown("dice { rounds.k = 4, model-dispatcher.throughput = 2 }"));
    }

    @Test
    void aTypoNamesTheNearestKey() {
        assertEquals(List.of("unknown configuration key dice.rounds.kk (did you mean dice.rounds.k?)"),
                unknown("dice.rounds.kk = 4"));
    }

    @Test
    void anEmptyUnknownSectionAndAPresetsKeysAreChecked() {
        assertEquals(2, unknown("dice { bogus { }, presets.mine { rounds.gama = 1 } }").size());
    }

    @Test
    void distance() {
        assertEquals(1, EditDistance.levenshtein("kk", "k"));
        assertEquals(1, EditDistance.levenshtein("gama", "gamma"));
    }
}
