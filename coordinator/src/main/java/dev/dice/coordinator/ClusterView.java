package dev.dice.coordinator;

import dev.dice.actors.Coordination;
import dev.dice.actors.TrainerActor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.slf4j.Logger;

/** What the coordinator knows of the cluster: the trainers the receptionist lists, the membership changes it saw. */
final class ClusterView {
    private final Logger log;
    private List<ActorRef<TrainerActor.Command>> trainers = List.of();
    private boolean trainerWaitOver;
    private int joins;
    private int leaves;

    ClusterView(Logger log) {
        this.log = log;
    }

    /** The trainers listed now, this node's first. */
    List<ActorRef<TrainerActor.Command>> trainers() {
        return trainers;
    }

    /**
     * Up to {@code wanted} of the listed trainers, one per node before a second on any node (a ring across machines
     * adds their compute), this node's first (rank 0 of the ring).
     */
    List<ActorRef<TrainerActor.Command>> pick(int wanted) {
        Map<Address, List<ActorRef<TrainerActor.Command>>> byNode = new LinkedHashMap<>();
        trainers.forEach(t -> byNode.computeIfAbsent(t.path().address(), a -> new ArrayList<>()).add(t));
        List<ActorRef<TrainerActor.Command>> picked = new ArrayList<>();
        for (int round = 0; picked.size() < wanted && picked.size() < trainers.size(); round++) {
            for (List<ActorRef<TrainerActor.Command>> onNode : byNode.values()) {
                if (round < onNode.size() && picked.size() < wanted) {
                    picked.add(onNode.get(round));
                }
            }
        }
        return picked;
    }

    /** The run's {@code wanted} trainers are listed, or the first wait for them is over and at least one is. */
    boolean enoughTrainers(int wanted) {
        return pick(wanted).size() >= wanted || trainerWaitOver && !trainers.isEmpty();
    }

    /** A stage waited a ring timeout for the run's trainers: from now on stages train on those listed. */
    void trainerWaitOver() {
        trainerWaitOver = true;
    }

    /** Takes the receptionist's new listing; this node's trainer first, so a stage's data stays off the network. */
    void listed(Receptionist.Listing listing) {
        trainers = listing.getServiceInstances(Coordination.TRAINERS).stream()
                .sorted(Comparator.comparing((ActorRef<TrainerActor.Command> ref) -> ref.path().address().hasGlobalScope())
                        .thenComparing(ref -> ref.path().toString())).toList();
    }

    /** Counts nodes up (this one and those present when it started included) and removed. */
    void changed(ClusterEvent.MemberEvent event) {
        Member member = event.member();
        if (event instanceof ClusterEvent.MemberUp) {
            joins++;
            log.info("node {} is up: roles {}", member.address().hostPort(), new TreeSet<>(member.getRoles()));
        } else if (event instanceof ClusterEvent.MemberRemoved) {
            leaves++;
            log.info("node {} left the cluster", member.address().hostPort());
        }
    }

    Coordinator.Membership membership() {
        return new Coordinator.Membership(joins, leaves);
    }
}
