package dev.dice.actors;

import java.nio.file.Path;

/** A policy version and where its checkpoint is in the run's checkpoint store. */
public record PolicyRef(long version, Path dir) {}
