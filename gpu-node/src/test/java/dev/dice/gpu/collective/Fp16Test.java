package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class Fp16Test {
    /** The value of a binary16 bit pattern, straight from the definition. */
    private static double value(int h) {
        int sign = (h >>> 15) == 1 ? -1 : 1;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return mantissa == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
        }
        if (exponent == 0) {
            return sign * Math.scalb(mantissa / 1024.0, -14);
        }
        return sign * Math.scalb(1 + mantissa / 1024.0, exponent - 15);
    }

    @Test
    void everyHalfDecodesToItsValueAndEncodesBack() {
        for (int h = 0; h < 1 << 16; h++) {
            double expected = value(h);
            float decoded = Fp16.decode((short) h);
            if (Double.isNaN(expected)) {
                assertTrue(Float.isNaN(decoded), "NaN pattern " + Integer.toHexString(h));
                assertTrue(Float.isNaN(Fp16.decode(Fp16.encode(decoded))), "NaN stays NaN");
                continue;
            }
            assertEquals(expected, decoded, 0.0, "pattern " + Integer.toHexString(h));
            assertEquals(h, Fp16.encode(decoded) & 0xffff, "round trip of " + decoded);
        }
    }

    @Test
    void floatsRoundToTheNearestHalfTiesToEven() {
        Random rng = new Random(3);
        for (int i = 0; i < 200_000; i++) {
            // every exponent fp16 can reach, below and above (underflow to zero, overflow to infinity)
            float f = (float) (rng.nextGaussian() * Math.scalb(1.0, rng.nextInt(50) - 30));
            short h = Fp16.encode(f);
            double got = Fp16.decode(h);
            double below = Fp16.decode((short) (h - 1));
            double above = Fp16.decode((short) (h + 1));
            if (Double.isInfinite(got)) {
                assertTrue(Math.abs(f) >= 65520, f + " overflowed");
                continue;
            }
            double err = Math.abs(f - got);
            for (double neighbour : new double[] {below, above}) {
                if (!Double.isNaN(neighbour) && Math.signum(neighbour) == Math.signum(got)) {
                    double other = Math.abs(f - neighbour);
                    assertTrue(err < other || (err == other && (h & 1) == 0), f + " -> " + got + ", but " + neighbour
                            + " is at least as near");
                }
            }
        }
        assertEquals(0x3c00, Fp16.encode(1.0f));
        assertEquals(0x3c00, Fp16.encode(1.0f + 0x1p-11f)); // halfway between 1 and 1+2^-10: to the even one
        assertEquals(0x3c02, Fp16.encode(1.0f + 3 * 0x1p-11f)); // halfway, the even one is above
        assertEquals(0x7c00, Fp16.encode(65520f)); // halfway between the largest half and 2^16: infinity
        assertEquals(0x7bff, Fp16.encode(65519f));
        assertEquals(0x0001, Fp16.encode(0x1p-24f)); // the smallest subnormal
        assertEquals(0x0000, Fp16.encode(0x1p-25f)); // halfway to it: to even, zero
        assertEquals((short) 0x8000, Fp16.encode(-0f));
    }
}
