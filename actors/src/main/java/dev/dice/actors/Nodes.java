package dev.dice.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.gpu.BadInputException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/** The configuration of a DICE node: its own settings over {@code dice-node.conf} over every library default. */
public final class Nodes {
    private Nodes() {}

    /** The actor system's name: the same on every node of a cluster. */
    public static final String SYSTEM = "dice";

    /** The roles a node may take. Generators, scorers and trainers are workers; coordinator and replay, singletons. */
    public static final Set<String> ROLES = Set.of("generator", "scorer", "trainer", "coordinator", "replay");

    public static Config config(Config overrides) {
        Config node = overrides.withFallback(ConfigFactory.parseResources("dice-node.conf"))
                .withFallback(ConfigFactory.defaultReference()).resolve();
        // dice.tls decides Artery's transport and its key material.
        return NodeTls.from(node).pekkoConfig().withFallback(node);
    }

    /**
     * A cluster node at {@code host:port} joining through {@code seeds} (HOST:PORT each) with {@code roles}, and its
     * device as one more role ({@code device-cpu}, {@code device-cuda-0}) so that every member sees what each node
     * computes on. A null host, port or seed list leaves the setting to the rest of the configuration.
     */
    public static Config cluster(String host, Integer port, List<String> seeds, Collection<String> roles, String device) {
        Map<String, Object> settings = new HashMap<>();
        if (host != null) {
            settings.put("pekko.remote.artery.canonical.hostname", host);
        }
        if (port != null) {
            settings.put("pekko.remote.artery.canonical.port", port);
        }
        if (seeds != null) {
            List<String> seedNodes = new ArrayList<>();
            for (String seed : seeds) {
                seedNodes.add("pekko://" + SYSTEM + "@" + hostPort(seed));
            }
            settings.put("pekko.cluster.seed-nodes", seedNodes);
        }
        return ConfigFactory.parseMap(settings).withFallback(rolesConfig(roles, device));
    }

    /** The node's cluster roles: {@code roles} and its device. */
    public static Config rolesConfig(Collection<String> roles, String device) {
        List<String> all = new ArrayList<>(new TreeSet<>(roles));
        all.add("device-" + device.replace(':', '-'));
        return ConfigFactory.parseMap(Map.of("pekko.cluster.roles", all));
    }

    /** Checks a --roles list: every role known, at least one. */
    public static Set<String> parseRoles(Collection<String> given) {
        Set<String> roles = new TreeSet<>();
        for (String role : given) {
            String r = role.strip();
            if (!ROLES.contains(r)) {
                throw new BadInputException("--roles: unknown role '" + r + "' (expected any of " + new TreeSet<>(ROLES) + ")");
            }
            roles.add(r);
        }
        if (roles.isEmpty()) {
            throw new BadInputException("--roles: give at least one of " + new TreeSet<>(ROLES));
        }
        return roles;
    }

    private static String hostPort(String seed) {
        int colon = seed.lastIndexOf(':');
        if (colon <= 0 || colon == seed.length() - 1) {
            throw new BadInputException("--seed-nodes: expected HOST:PORT, got '" + seed + "'");
        }
        try {
            int port = Integer.parseInt(seed.substring(colon + 1));
            if (port < 1 || port > 65535) {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw new BadInputException("--seed-nodes: '" + seed + "' has no valid port");
        }
        return seed.strip();
    }
}
