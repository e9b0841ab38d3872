package dev.dice.gpu.collective;

/**
 * IEEE-754 binary16 from and to binary32, rounding to nearest, ties to even (Java 17 has no
 * {@code Float.floatToFloat16}). Overflow goes to ±infinity, NaN stays NaN, tiny values become fp16 subnormals.
 * The branch structure follows F. Giesen's {@code float_to_half_fast3_rtne} / {@code half_to_float}.
 */
final class Fp16 {
    private Fp16() {}

    /** 2^-14 as a float: subtracting it turns a biased subnormal into its value. */
    private static final float SUBNORMAL_MAGIC = Float.intBitsToFloat(113 << 23);
    private static final float[] DECODED = new float[1 << 16];

    static {
        for (int h = 0; h < DECODED.length; h++) {
            DECODED[h] = slowDecode((short) h);
        }
    }

    static short encode(float value) {
        int f = Float.floatToRawIntBits(value);
        int sign = (f >>> 16) & 0x8000;
        f &= 0x7fffffff;
        int h;
        if (f >= 0x47800000) { // |value| >= 65536, infinity or NaN
            h = f > 0x7f800000 ? 0x7e00 : 0x7c00;
        } else if (f < 0x38800000) { // below fp16's smallest normal 2^-14: a subnormal or zero
            // adding 0.5 lines the mantissa up with fp16's subnormal grid, so the float adder does the rounding
            h = Float.floatToRawIntBits(Float.intBitsToFloat(f) + 0.5f) - 0x3f000000;
        } else {
            int mantissaOdd = (f >>> 13) & 1;
            f += ((15 - 127) << 23) + 0xfff; // rebias the exponent, add just under half an fp16 ulp...
            f += mantissaOdd; // ...and the last bit of it when the result would be odd: ties to even
            h = f >>> 13;
        }
        return (short) (sign | h);
    }

    static float decode(short half) {
        return DECODED[half & 0xffff];
    }

    private static float slowDecode(short half) {
        int o = (half & 0x7fff) << 13;
        int exponent = o & (0x7c00 << 13);
        o += (127 - 15) << 23;
        if (exponent == 0x7c00 << 13) { // infinity or NaN
            o += (128 - 16) << 23;
        } else if (exponent == 0) { // zero or subnormal
            o += 1 << 23;
            o = Float.floatToRawIntBits(Float.intBitsToFloat(o) - SUBNORMAL_MAGIC);
        }
        return Float.intBitsToFloat(o | ((half & 0x8000) << 16));
    }

    /**
     * The power of two that puts the largest finite magnitude of {@code values[0, count)} in [2^14, 2^15): fp16's
     * 11 significant bits then serve the chunk's own range, however small its values are (0 when all are 0).
     */
    static int exponentFor(float[] values, int count) {
        float max = 0;
        for (int i = 0; i < count; i++) {
            float a = Math.abs(values[i]);
            if (a > max && a != Float.POSITIVE_INFINITY) {
                max = a;
            }
        }
        return max == 0 ? 0 : Math.max(-126, Math.min(126, 14 - Math.getExponent(max)));
    }

    /** {@code count} floats, each times 2^exponent (exact), to halves. */
    static void encode(float[] from, short[] to, int count, int exponent) {
        float scale = Math.scalb(1f, exponent);
        for (int i = 0; i < count; i++) {
            to[i] = encode(from[i] * scale);
        }
    }

    /** {@code count} halves to floats, each times 2^−exponent. */
    static void decode(short[] from, float[] to, int count, int exponent) {
        float scale = Math.scalb(1f, -exponent);
        for (int i = 0; i < count; i++) {
            to[i] = DECODED[from[i] & 0xffff] * scale;
        }
    }

    /** Rounds floats in place to what a receiver of their encoding at {@code exponent} will hold. */
    static void round(float[] values, int count, int exponent) {
        float up = Math.scalb(1f, exponent);
        float down = Math.scalb(1f, -exponent);
        for (int i = 0; i < count; i++) {
            values[i] = DECODED[encode(values[i] * up) & 0xffff] * down;
        }
    }
}
