package dev.jdiffuse.safetensors;

/**
 * Exact conversions between 32-bit floats and the 16- and 8-bit floating-point formats stored in checkpoints
 * ({@code Float.float16ToFloat} only exists from Java 20). Widening is exact for every input, including subnormals,
 * signed zeros, infinities and NaN payloads; narrowing rounds to nearest, ties to even, as IEEE 754 and PyTorch do.
 *
 * <ul>
 *   <li>IEEE binary16 (F16): 1 sign, 5 exponent (bias 15), 10 mantissa bits.</li>
 *   <li>bfloat16 (BF16): the upper 16 bits of a binary32.</li>
 *   <li>OCP FP8 E5M2: the upper 8 bits of a binary16.</li>
 *   <li>OCP FP8 E4M3FN: 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities, NaN = S.1111.111.</li>
 * </ul>
 */
public final class HalfFloats {

    private HalfFloats() {
    }

    /** binary16 bits (low 16 bits of {@code h}) to float, exactly. */
    public static float halfToFloat(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            float magnitude = mant * 0x1p-24f; // subnormal (or zero): mant x 2^-24, exact in binary32
            return sign != 0 ? -magnitude : magnitude;
        }
        return Float.intBitsToFloat(sign | ((exp + (127 - 15)) << 23) | (mant << 13));
    }

    /** float to binary16 bits, round to nearest even; overflow gives infinity, NaN stays (quiet) NaN. */
    public static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) {
            if (abs == 0x7f800000) {
                return (short) (sign | 0x7c00);
            }
            return (short) (sign | 0x7e00 | ((abs >>> 13) & 0x3ff));
        }
        if (abs >= 0x477ff000) { // >= 65520: rounds (ties to even) past the largest finite half 65504
            return (short) (sign | 0x7c00);
        }
        if (abs < 0x38800000) { // below 2^-14: binary16 subnormal or zero, unit 2^-24
            if (abs <= 0x33000000) { // <= 2^-25: rounds to zero (the tie 2^-25 goes to even 0)
                return (short) sign;
            }
            int exp = abs >>> 23;
            int mant = (abs & 0x7fffff) | 0x800000;
            int shift = 126 - exp; // value x 2^24 = mant x 2^(exp - 126)
            return (short) (sign | roundShift(mant, shift));
        }
        int h = ((abs >>> 23) - (127 - 15)) << 10 | ((abs >>> 13) & 0x3ff);
        int rem = abs & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1)) {
            h++; // a carry into the exponent is the correct next binade
        }
        return (short) (sign | h);
    }

    /** bfloat16 bits (low 16 bits of {@code b}) to float, exactly. */
    public static float bf16ToFloat(int b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /** float to bfloat16 bits, round to nearest even; NaN stays (quiet) NaN. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** FP8 E5M2 bits (low 8 bits) to float, exactly: it is the upper byte of a binary16. */
    public static float e5m2ToFloat(int b) {
        return halfToFloat((b & 0xff) << 8);
    }

    /** FP8 E4M3FN bits (low 8 bits) to float, exactly. */
    public static float e4m3fnToFloat(int b) {
        int sign = b & 0x80;
        int exp = (b >>> 3) & 0xf;
        int mant = b & 0x7;
        float magnitude;
        if (exp == 0xf && mant == 0x7) {
            magnitude = Float.NaN;
        } else if (exp == 0) {
            magnitude = mant * 0x1p-9f;
        } else {
            magnitude = Float.intBitsToFloat(((exp + (127 - 7)) << 23) | (mant << 20));
        }
        return sign != 0 ? -magnitude : magnitude;
    }

    /**
     * float to FP8 E4M3FN bits, round to nearest even, as PyTorch's {@code .to(torch.float8_e4m3fn)}: magnitudes above
     * 464 (half-way between the largest finite value 448 and the next step, 480, which is the NaN pattern) become NaN
     * ({@code S.1111.111}; the format has no infinity), 464 itself rounds to even (448); NaN stays NaN.
     */
    public static byte floatToE4m3fn(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 24) & 0x80;
        int abs = bits & 0x7fffffff;
        if (abs > 0x43e80000) { // NaN, infinity, or > 464
            return (byte) (sign | 0x7f);
        }
        if (abs < 0x3c800000) { // below 2^-6: subnormal grid m x 2^-9, m = 0..8 (8 is the first normal)
            return (byte) (sign | (int) Math.rint(Float.intBitsToFloat(abs) * 512f));
        }
        // keep 3 of the 23 mantissa bits, ties to even; a carry moves into the exponent, which is right
        int r = (abs + 0x7ffff + ((abs >>> 20) & 1)) >>> 20;
        return (byte) (sign | (r - ((127 - 7) << 3)));
    }

    private static int roundShift(int mant, int shift) {
        int r = mant >>> shift;
        int rem = mant & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (rem > half || (rem == half && (r & 1) == 1)) {
            r++;
        }
        return r;
    }
}
