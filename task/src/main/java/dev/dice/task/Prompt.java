package dev.dice.task;

/**
 * One instruction of the built-in task.
 *
 * @param id     unique across all splits of one task seed, e.g. {@code eval-17}
 * @param family the family's label, e.g. {@code upper} (see {@link Family})
 * @param text   the instruction the model sees, e.g. {@code upper: red cat}
 * @param answer the correct core answer without any filler, e.g. {@code RED CAT}; only the judge sees it
 */
public record Prompt(String id, String family, String text, String answer) {
}
