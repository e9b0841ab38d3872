package dev.dice.tests;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Key material made by ops/scripts/gen-tls.sh, as a user would make it, and the node settings that use it. */
record TlsMaterial(Path dir, String password) {

    static TlsMaterial generate(Path dir) throws IOException, InterruptedException {
        String password = "test-" + Long.toHexString(System.nanoTime());
        ProcessBuilder pb = new ProcessBuilder("bash", Path.of("..", "ops", "scripts", "gen-tls.sh").toString(),
                dir.toString()).redirectErrorStream(true);
        pb.environment().put("DICE_TLS_PASSWORD", password);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IllegalStateException("ops/scripts/gen-tls.sh failed: " + out);
        }
        return new TlsMaterial(dir, password);
    }

    Path keystore() {
        return dir.resolve("keystore.p12");
    }

    Path truststore() {
        return dir.resolve("truststore.p12");
    }

    /** The dice.tls block of a node using this material. */
    Config nodeSettings() {
        return ConfigFactory.parseString("dice.tls { enabled = on, keystore = \"" + keystore() + "\", truststore = \""
                + truststore() + "\", keystore-password = \"" + password + "\", truststore-password = \"" + password
                + "\" }");
    }
}
