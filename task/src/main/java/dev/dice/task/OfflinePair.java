package dev.dice.task;

/** One row of the offline preference set D_off: a prompt with the judge's chosen and a rejected response. */
public record OfflinePair(String promptId, String prompt, String chosen, String rejected) {
}
