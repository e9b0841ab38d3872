package dev.dice.actors;

import dev.dice.gpu.LlamaConfig;

/**
 * Where a trained model's weights can be fetched: the trainer's weight publisher ("host:port"), the version it
 * serves, the SHA-256 of the weights (parameter order, see {@code Policy.weightsSha256}) and the model's shape.
 */
public record PublishedWeights(String publisher, long version, String sha256, LlamaConfig config) {}
