package dev.dice.actors;

import dev.dice.gpu.LlamaConfig;

/**
 * Where a trained model's weights can be fetched: the trainer's weight publisher ("host:port"), the version it
 * serves, the SHA-256 of the weights (parameter order, see {@code Policy.weightsSha256}) and the model's shape.
 */
public record PublishedWeights(String publisher, long version, String sha256, LlamaConfig config) {

    /** As a shard names them (dice.proto). */
    public dev.dice.proto.PublishedWeights toProto() {
        return dev.dice.proto.PublishedWeights.newBuilder().setPublisher(publisher).setVersion(version).setSha256(sha256)
                .setConfigJson(WireSerializer.configJson(config)).build();
    }

    public static PublishedWeights of(dev.dice.proto.PublishedWeights w) {
        return new PublishedWeights(w.getPublisher(), w.getVersion(), w.getSha256(), WireSerializer.config(w.getConfigJson()));
    }
}
