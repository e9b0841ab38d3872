package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.gpu.IntraOpThreads;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code dice.cluster.trainers = 0}: one trainer per core on a CPU with the built-in model, else one. */
class TrainersPerDeviceTest {

    @Test
    void oneTrainerPerCoreOnlyForTheBuiltInModelOnACpu() {
        assertEquals(2, TrainersPerDevice.of(false, true, 2, 32));
        assertEquals(8, TrainersPerDevice.of(false, true, 64, 8), "every rank needs a share of the smallest batch");
        assertEquals(1, TrainersPerDevice.of(false, false, 2, 32), "a checkpoint's model: one trainer on every core");
        assertEquals(1, TrainersPerDevice.of(true, true, 2, 32), "a GPU: one");
        assertEquals(1, TrainersPerDevice.of(false, true, 1, 32));
    }

    @Test
    void aSingleProcessRunResolvesZeroAClusterReadsItAsOne() {
        assertEquals(0, DiceRun.configure(ConfigFactory.empty(), null, "default").getInt("dice.cluster.trainers"),
                "the default is per device");
        Config zero = DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.cluster.trainers", 0)), null, "default");
        assertEquals(1, RunConfig.from(zero).trainers().count(), "a cluster node reads 0 as one trainer");
        int cores = IntraOpThreads.jvmDefault();
        assertEquals(Math.min(cores, 32), RunConfig.from(TrainersPerDevice.resolve(zero)).trainers().count());
        Config set = DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.cluster.trainers", 3)), null, "default");
        assertEquals(3, RunConfig.from(TrainersPerDevice.resolve(set)).trainers().count(), "a set count stays");
        Config model = DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.cluster.trainers", 0, "dice.model.dir",
                "/some/checkpoint")), null, "default");
        assertEquals(1, TrainersPerDevice.resolve(model).getInt("dice.cluster.trainers"));
    }
}
