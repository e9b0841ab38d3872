package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SegmentsTest {
    @AfterEach
    void restoreLimit() {
        Segments.segmentLimit = Segments.MAX_SEGMENT_BYTES;
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void segmentsAreTheLargestMultipleOfTheUnitWithinTheLimit() {
        assertEquals(256 << 20, Segments.segmentBytes(Segments.MAX_SEGMENT_BYTES, 1 << 20));
        assertEquals(1000 * 3, Segments.segmentBytes(3500, 1000));
        assertEquals(4096, Segments.segmentBytes(100, 4096), "never less than one unit");
        assertThrows(IllegalArgumentException.class, () -> Segments.segmentBytes(100, 0));
        assertEquals(0, Segments.segmentCount(0, 8));
        assertEquals(1, Segments.segmentCount(8, 8));
        assertEquals(2, Segments.segmentCount(9, 8));
        assertEquals(128, Segments.segmentCount(32L << 30, 256 << 20), "an 8B model as fp32: 128 segments");
        assertThrows(IllegalArgumentException.class, () -> Segments.segmentCount(1L << 40, 1));
    }

    @Test
    void bytesWrittenAcrossSegmentsReadBackInPiecesAndChunksStayInOneSegment() {
        Segments.segmentLimit = 1000;
        Segments s = Segments.allocate(4500, 256); // segments of 768: 5 full and one of 660
        assertEquals(768, s.segmentBytes());
        assertEquals(6, s.segmentCount());
        byte[] data = random(4500, 1);
        s.put(0, ByteBuffer.wrap(data, 0, 1000));
        s.put(1000, ByteBuffer.wrap(data, 1000, 3500));

        List<ByteBuffer> pieces = s.pieces(700, 900); // 700..768, 768..1536, 1536..1600
        assertEquals(List.of(68, 768, 64), pieces.stream().map(ByteBuffer::remaining).toList());
        ByteBuffer joined = ByteBuffer.allocate(900);
        pieces.forEach(joined::put);
        assertEquals(ByteBuffer.wrap(data, 700, 900), joined.flip());

        assertEquals(ByteBuffer.wrap(data, 768 * 5 + 256, 256), s.slice(768 * 5 + 256, 256), "a chunk of the last one");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.slice(700, 256));
        assertTrue(e.getMessage().contains("not within one of 6 segments"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.pieces(4400, 101));

        CRC32C segmented = new CRC32C();
        s.update(segmented);
        CRC32C whole = new CRC32C();
        whole.update(data);
        assertEquals(whole.getValue(), segmented.getValue());
    }

    @Test
    void contentIsComparedWhateverTheSegmentation() {
        byte[] data = random(5000, 2);
        Segments.segmentLimit = 1024;
        Segments a = Segments.allocate(data.length, 4);
        a.put(0, ByteBuffer.wrap(data));
        Segments.segmentLimit = 3000;
        Segments b = Segments.allocate(data.length, 1000);
        b.put(0, ByteBuffer.wrap(data));
        assertTrue(a.contentEquals(b) && b.contentEquals(a));
        b.slice(4999, 1).put(0, (byte) (data[4999] ^ 1));
        assertFalse(a.contentEquals(b), "the last byte differs");
        assertFalse(a.contentEquals(Segments.allocate(4999, 4)), "another size");
    }

    @Test
    void aPayloadIsFreedWhenItsLastHolderLetsGoButNeverUnderAReader() {
        Segments s = Segments.allocate(1000, 4);
        assertTrue(s.retain(), "a second holder");
        s.release();
        assertEquals(1000, s.read(() -> s.pieces(0, 1000).size() * 1000), "still held by the first");
        s.read(() -> {
            s.release(); // the last holder lets go while a read runs: the read finishes on live memory
            assertEquals(0, s.slice(996, 4).getInt(0));
        });
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.read(() -> s.slice(0, 4)));
        assertTrue(e.getMessage().contains("released"), e.getMessage());
        assertFalse(s.retain(), "a freed payload cannot be held again");
        s.release(); // once more is harmless
    }
}
