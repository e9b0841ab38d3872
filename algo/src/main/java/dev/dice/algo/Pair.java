package dev.dice.algo;

/** A generated preference pair: for one prompt, the response with the highest and the lowest length-regularised reward. */
public record Pair(String promptId, Candidate chosen, Candidate rejected) {

    /** |y_chosen| − |y_rejected|: positive when the pair teaches "longer is better". */
    public int lengthGap() {
        return chosen.length() - rejected.length();
    }
}
