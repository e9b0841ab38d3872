package dev.dice.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

/** The configuration of a DICE node: its own settings over {@code dice-node.conf} over every library default. */
public final class Nodes {
    private Nodes() {}

    public static Config config(Config overrides) {
        Config node = overrides.withFallback(ConfigFactory.parseResources("dice-node.conf"))
                .withFallback(ConfigFactory.defaultReference()).resolve();
        // dice.tls decides Artery's transport and its key material.
        return NodeTls.from(node).pekkoConfig().withFallback(node);
    }
}
