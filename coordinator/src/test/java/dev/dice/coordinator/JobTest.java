package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Job names are what results and the journal carry: each job reads back as itself, with its stage. */
class JobTest {

    @Test
    void everyJobOfARunReadsBackFromItsName() {
        List<Job> jobs = List.of(Job.baseline(), Job.offlineSamples(), Job.offlineRefs(), Job.eval("sft"),
                Job.eval("round2"), Job.agreement("dpo"), Job.round("round1"), Job.replayRefs("round12"));
        for (Job job : jobs) {
            assertEquals(Optional.of(job), Job.parse(job.name()), job.name());
        }
        assertEquals(List.of("baseline", "offline-samples", "offline-refs", "eval-sft", "eval-round2", "agreement-dpo",
                "round1", "round12-replay-refs"), jobs.stream().map(Job::name).toList());
        assertEquals("sft", Job.baseline().stage());
        assertEquals("dpo", Job.offlineRefs().stage());
    }

    @Test
    void aNameOfNoJobHasNoStageAndLabelsAsItself() {
        assertTrue(Job.parse("sft").isEmpty());
        assertTrue(Job.parse("gen-test").isEmpty());
        assertEquals("gen_test", Job.label("gen-test"));
        assertEquals("replay_refs", Job.label("round3-replay-refs"));
        assertEquals("eval", Job.label("eval-baseline"));
        assertEquals("offline_samples", Job.label("offline-samples"));
    }
}
