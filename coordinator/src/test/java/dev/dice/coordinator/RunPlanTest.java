package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.ConfigFactory;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Sampling;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every prompt shard carries how its job samples: the rounds' settings, or the evaluation's own. */
class RunPlanTest {

    @Test
    void evaluationSamplesWithItsOwnTemperatureAndTopP(@TempDir Path dir) {
        RunConfig config = RunConfig.from(DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.out", dir.toString(),
                "dice.eval.temperature", 0.3, "dice.eval.top-p", 0.8, "dice.rounds.max-new-tokens", 24)), null,
                "smoke"));
        RunPlan plan = new RunPlan(config, new RunDirectory(dir));
        Sampling rounds = Sampling.newBuilder().setTemperature(0.7).setTopP(0.9).setMaxNewTokens(24)
                .setMinResponseChars(config.rounds().minResponseChars()).build();
        Sampling eval = rounds.toBuilder().setTemperature(0.3).setTopP(0.8).build();
        for (List<PromptShard> shards : List.of(plan.roundShards(1), plan.offlineSampleShards())) {
            shards.forEach(s -> assertEquals(rounds, s.getSampling(), s.getJob()));
        }
        for (Job job : List.of(Job.baseline(), Job.eval("dpo"))) {
            plan.evalShards(job, 0).forEach(s -> assertEquals(eval, s.getSampling(), s.getJob()));
        }
    }
}
