package dev.dice.gpu.collective;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Who fetches one weight version from whom. The publisher is the root and has one child, so it sends each
 * version once; the nodes below form a tree of {@code fanOut} children per node in the order they asked (fan-out
 * 1: a chain, which moves a snapshot in about one copy's time when every node streams each chunk on as it
 * arrives). A node reported as failed is skipped: its children fetch from its nearest ancestor that was not.
 */
final class RelayTree {
    /** The root's name in {@link #parentOf}'s answer: fetch from the publisher itself. */
    static final String ROOT = "";

    private final int fanOut;
    private final List<String> members = new ArrayList<>(); // in the order they asked; position = index + 1
    private final Set<String> failed = new HashSet<>();

    RelayTree(int fanOut) {
        if (fanOut < 1) {
            throw new IllegalArgumentException("relay fan-out must be at least 1, not " + fanOut);
        }
        this.fanOut = fanOut;
    }

    /**
     * The relay {@code member} fetches from: joins the tree the first time it asks; {@code failedParents} are
     * the nodes that failed it (they are skipped for everyone from now on).
     */
    String parentOf(String member, Collection<String> failedParents) {
        failed.addAll(failedParents);
        int position = members.indexOf(member) + 1;
        if (position == 0) {
            members.add(member);
            position = members.size();
        }
        int parent = parentPosition(position, fanOut);
        while (parent > 0 && failed.contains(members.get(parent - 1))) {
            parent = parentPosition(parent, fanOut);
        }
        return parent == 0 ? ROOT : members.get(parent - 1);
    }

    /** Members in the order they joined (logs, tests). */
    List<String> members() {
        return List.copyOf(members);
    }

    /** Position 0 is the root, 1 its only child, and positions 2.. a {@code fanOut}-ary heap under position 1. */
    static int parentPosition(int position, int fanOut) {
        return position <= 1 ? 0 : 1 + (position - 2) / fanOut;
    }
}
