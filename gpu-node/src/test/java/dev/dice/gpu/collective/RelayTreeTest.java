package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class RelayTreeTest {
    @Test
    void fanOutOneIsAChainBelowTheRoot() {
        RelayTree tree = new RelayTree(1);
        assertEquals(RelayTree.ROOT, tree.parentOf("a", List.of()));
        assertEquals("a", tree.parentOf("b", List.of()));
        assertEquals("b", tree.parentOf("c", List.of()));
        assertEquals("c", tree.parentOf("d", List.of()));
        assertEquals(List.of("a", "b", "c", "d"), tree.members());
    }

    @Test
    void theRootHasOneChildAndTheNodesBelowFanOut() {
        RelayTree tree = new RelayTree(2);
        List<String> parents = List.of("a", "b", "c", "d", "e", "f", "g").stream()
                .map(m -> tree.parentOf(m, List.of())).toList();
        assertEquals(List.of(RelayTree.ROOT, "a", "a", "b", "b", "c", "c"), parents);
    }

    @Test
    void aFailedParentIsSkippedForItsChildAndForEveryoneAfter() {
        RelayTree tree = new RelayTree(1);
        for (String m : List.of("a", "b", "c", "d")) {
            tree.parentOf(m, List.of());
        }
        assertEquals("a", tree.parentOf("c", List.of("b")), "c's parent b failed: a, b's parent");
        assertEquals("c", tree.parentOf("d", List.of()), "c is fine");
        assertEquals(RelayTree.ROOT, tree.parentOf("c", List.of("a")), "a failed too: the root");
        assertEquals("d", tree.parentOf("e", List.of()), "a newcomer joins below the last member");
    }

    @Test
    void askingAgainKeepsThePlace() {
        RelayTree tree = new RelayTree(2);
        tree.parentOf("a", List.of());
        tree.parentOf("b", List.of());
        assertEquals("a", tree.parentOf("b", List.of()));
        assertEquals(List.of("a", "b"), tree.members());
    }

    @Test
    void parentPositions() {
        assertEquals(0, RelayTree.parentPosition(1, 3));
        assertEquals(1, RelayTree.parentPosition(4, 3));
        assertEquals(2, RelayTree.parentPosition(5, 3));
        assertEquals(3, RelayTree.parentPosition(4, 1));
        assertThrows(IllegalArgumentException.class, () -> new RelayTree(0));
    }
}
