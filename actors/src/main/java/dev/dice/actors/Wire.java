package dev.dice.actors;

/**
 * Marks the protocol messages that may cross nodes. Config binds it to {@link WireSerializer}, which writes
 * each as its protobuf mirror in {@code wire.proto}; Java serialization stays off.
 */
public interface Wire {}
