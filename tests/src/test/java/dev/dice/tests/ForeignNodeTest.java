package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Nodes;
import dev.dice.actors.RunCompatibility;
import dev.dice.ops.DiceMetrics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ConfigValidation;
import org.apache.pekko.cluster.Invalid;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.JoinSeedNodes;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Real ActorSystems on loopback joining through the seed-node protocol: a node of the same run and build joins;
 * a node of another run or another DICE version is refused (the cluster counts it in {@code dice_nodes_refused_total}
 * and names the key and both values), and the refused node shuts down, for incompatible configuration, without ever
 * becoming a member.
 */
class ForeignNodeTest {
    private static final Duration WAIT = Duration.ofSeconds(40);
    private ActorSystem<Void> seed;
    private Address seedAddress;

    private static ActorSystem<Void> node(String runId, String version) {
        Config config = Nodes.config(ConfigFactory.parseString("dice.run-id = \"" + runId + "\"\n"
                + (version == null ? "" : "dice.version = \"" + version + "\"\n")));
        return ActorSystem.create(Behaviors.empty(), "dice", config);
    }

    @BeforeEach
    void startSeed() {
        seed = node("run-a", null);
        seedAddress = Cluster.get(seed).selfMember().address();
        Cluster.get(seed).manager().tell(new JoinSeedNodes(List.of(seedAddress)));
    }

    @AfterEach
    void stopSeed() {
        seed.terminate();
        seed.getWhenTerminated().toCompletableFuture().orTimeout(30, TimeUnit.SECONDS).join();
    }

    @Test
    void aNodeOfTheSameRunJoins() throws Exception {
        ActorSystem<Void> peer = node("run-a", null);
        try {
            Cluster.get(peer).manager().tell(new JoinSeedNodes(List.of(seedAddress)));
            Address peerAddress = Cluster.get(peer).selfMember().address();
            assertTrue(awaitUp(peerAddress), "the peer is Up in the seed's view");
        } finally {
            peer.terminate();
        }
    }

    @Test
    void aNodeOfAnotherRunIsRefused() throws Exception {
        refused(node("run-b", null), "dice.run-id: 'run-a' on this node, 'run-b' on the other");
    }

    @Test
    void aNodeOfAnotherVersionIsRefused() throws Exception {
        String version = seed.settings().config().getString("dice.version");
        refused(node("run-a", "0.0.1-old"), "dice.version: '" + version + "' on this node, '0.0.1-old' on the other");
    }

    private void refused(ActorSystem<Void> foreign, String difference) throws Exception {
        double refusedBefore = DiceMetrics.get().nodesRefused.get();
        try {
            Cluster.get(foreign).manager().tell(new JoinSeedNodes(List.of(seedAddress)));
            // The refused node gives up and shuts itself down, saying why.
            foreign.getWhenTerminated().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertEquals(Optional.of(CoordinatedShutdown.incompatibleConfigurationDetectedReason()),
                    CoordinatedShutdown.get(foreign).getShutdownReason(), "the refused node's reason to stop");
            assertTrue(DiceMetrics.get().nodesRefused.get() > refusedBefore, "the cluster counted the refusal");
            // What the cluster gives as the reason (in its log): the key and both values.
            ConfigValidation check = new RunCompatibility().check(foreign.settings().config(), seed.settings().config());
            Invalid invalid = assertInstanceOf(Invalid.class, check);
            assertEquals(List.of(difference), CollectionConverters.asJava(invalid.errorMessages()));
            assertEquals(List.of(seedAddress), members(), "only the seed is a member");
        } finally {
            foreign.terminate();
        }
    }

    private List<Address> members(MemberStatus... status) {
        List<Address> out = new ArrayList<>();
        for (Member m : Cluster.get(seed).state().getMembers()) {
            if (status.length == 0 || m.status() == status[0]) {
                out.add(m.address());
            }
        }
        return out;
    }

    private boolean awaitUp(Address address) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            if (members(MemberStatus.up()).contains(address)) {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }
}
