package dev.dice.actors;

import dev.dice.gpu.BadInputException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;

/**
 * How a node finds the cluster ({@code dice.cluster.bootstrap}): through {@code pekko.cluster.seed-nodes}, or on
 * Kubernetes through pekko-management's cluster bootstrap, which lists the pods of the run through the Kubernetes
 * API, probes their management endpoints and lets the pod with the lowest address form the cluster when none
 * exists (ops/k8s). The management HTTP server binds to {@code pekko.management.http.hostname}: 127.0.0.1 unless
 * configured (the manifests set the pod IP).
 */
public final class NodeBootstrap {
    private NodeBootstrap() {}

    /** Starts cluster bootstrap when configured; true if it did (the node must then not join seed nodes itself). */
    public static boolean start(ActorSystem<?> system) {
        String mode = system.settings().config().getString("dice.cluster.bootstrap");
        switch (mode) {
            case "seed-nodes":
                return false;
            case "kubernetes":
                PekkoManagement.get(system).start();
                ClusterBootstrap.get(system).start();
                return true;
            default:
                throw new BadInputException("dice.cluster.bootstrap: expected seed-nodes or kubernetes, got '" + mode + "'");
        }
    }
}
