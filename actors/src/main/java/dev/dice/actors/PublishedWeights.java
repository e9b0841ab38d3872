package dev.dice.actors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.dice.gpu.LlamaConfig;

/**
 * Where a trained model's weights can be fetched: the trainer's weight publisher ("host:port"), the version it
 * serves, the SHA-256 of the weights (parameter order, see {@code Policy.weightsSha256}) and the model's shape.
 */
public record PublishedWeights(String publisher, long version, String sha256, LlamaConfig config) {
    private static final ObjectMapper CONFIG_JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    /** As a shard names them (dice.proto). */
    public dev.dice.proto.PublishedWeights toProto() {
        return dev.dice.proto.PublishedWeights.newBuilder().setPublisher(publisher).setVersion(version).setSha256(sha256)
                .setConfigJson(configJson(config)).build();
    }

    public static PublishedWeights of(dev.dice.proto.PublishedWeights w) {
        return new PublishedWeights(w.getPublisher(), w.getVersion(), w.getSha256(), config(w.getConfigJson()));
    }

    /** The model's shape as the shard's {@code config_json} carries it. */
    private static String configJson(LlamaConfig config) {
        try {
            return config == null ? "" : CONFIG_JSON.writeValueAsString(config);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    private static LlamaConfig config(String json) {
        try {
            return json.isEmpty() ? null : CONFIG_JSON.readValue(json, LlamaConfig.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("PublishedWeights.config_json: " + e.getOriginalMessage(), e);
        }
    }
}
