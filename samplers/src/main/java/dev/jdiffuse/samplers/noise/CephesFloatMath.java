package dev.jdiffuse.samplers.noise;

/**
 * One lane of the float32 {@code log256_ps} and {@code sincos256_ps} that PyTorch's CPU {@code normal_fill_16_AVX2}
 * uses ({@code aten/src/ATen/native/cpu/avx_mathfun.h}: Giovanni Garberoglio's AVX port of Julien Pommier's
 * {@code sse_mathfun}, itself a transcription of the Cephes {@code logf}/{@code sinf}/{@code cosf} polynomials).
 *
 * <p>These are not libm: they are fixed sequences of float operations, so they can be reproduced bit for bit. The
 * intrinsics are written as separate {@code _mm256_mul_ps}/{@code _mm256_add_ps} calls, but PyTorch's GCC build
 * ({@code -mfma}, default {@code -ffp-contract=fast}) fuses every multiply whose only use is an add or subtract into
 * one FMA (the first such multiply in statement order when both operands of the add are products). Each
 * {@link Math#fma(float, float, float)} below marks exactly such a contraction; a plain {@code a * b + c} would round
 * twice and differ in the last bit for a few elements per thousand.
 */
final class CephesFloatMath {

    private static final float SQRTHF = 0.707106781186547524f;
    private static final float LOG_P0 = 7.0376836292E-2f;
    private static final float LOG_P1 = -1.1514610310E-1f;
    private static final float LOG_P2 = 1.1676998740E-1f;
    private static final float LOG_P3 = -1.2420140846E-1f;
    private static final float LOG_P4 = 1.4249322787E-1f;
    private static final float LOG_P5 = -1.6668057665E-1f;
    private static final float LOG_P6 = 2.0000714765E-1f;
    private static final float LOG_P7 = -2.4999993993E-1f;
    private static final float LOG_P8 = 3.3333331174E-1f;
    private static final float LOG_Q1 = -2.12194440e-4f;
    private static final float LOG_Q2 = 0.693359375f;

    private static final float MINUS_DP1 = -0.78515625f;
    private static final float MINUS_DP2 = -2.4187564849853515625e-4f;
    private static final float MINUS_DP3 = -3.77489497744594108e-8f;
    private static final float SINCOF_P0 = -1.9515295891E-4f;
    private static final float SINCOF_P1 = 8.3321608736E-3f;
    private static final float SINCOF_P2 = -1.6666654611E-1f;
    private static final float COSCOF_P0 = 2.443315711809948E-005f;
    private static final float COSCOF_P1 = -1.388731625493765E-003f;
    private static final float COSCOF_P2 = 4.166664568298827E-002f;
    /** 4 / pi. */
    private static final float FOPI = 1.27323954473516f;

    private static final int MIN_NORM_POS = 0x00800000;
    private static final int INV_MANT_MASK = ~0x7f800000;
    private static final int SIGN_MASK = 0x80000000;

    private CephesFloatMath() {
    }

    /** Natural logarithm, {@code log256_ps} lane; NaN for {@code x <= 0}. */
    static float log(float x) {
        boolean invalid = x <= 0f;
        x = Math.max(x, Float.intBitsToFloat(MIN_NORM_POS));
        int bits = Float.floatToRawIntBits(x);
        int exponent = (bits >>> 23) - 0x7f;
        // keep only the fractional part: mantissa in [0.5, 1)
        x = Float.intBitsToFloat((bits & INV_MANT_MASK) | Float.floatToRawIntBits(0.5f));
        float e = (float) exponent + 1f;
        // if (x < SQRTHF) { e -= 1; x = x + x - 1; } else { x = x - 1; }
        boolean small = x < SQRTHF;
        float tmp = small ? x : 0f;
        x = x - 1f;
        e = e - (small ? 1f : 0f);
        x = x + tmp;

        float z = x * x;
        float y = Math.fma(LOG_P0, x, LOG_P1);
        y = Math.fma(y, x, LOG_P2);
        y = Math.fma(y, x, LOG_P3);
        y = Math.fma(y, x, LOG_P4);
        y = Math.fma(y, x, LOG_P5);
        y = Math.fma(y, x, LOG_P6);
        y = Math.fma(y, x, LOG_P7);
        y = Math.fma(y, x, LOG_P8);
        y = y * x;
        y = Math.fma(y, z, e * LOG_Q1);
        y = Math.fma(-z, 0.5f, y);
        x = x + y;
        x = Math.fma(e, LOG_Q2, x);
        return invalid ? Float.NaN : x;
    }

    /**
     * Sine and cosine of {@code x} together, {@code sincos256_ps} lane (accurate for |x| < 8192). Writes
     * {@code out[0] = sin(x)}, {@code out[1] = cos(x)}.
     */
    static void sincos(float x, float[] out) {
        int signSin = Float.floatToRawIntBits(x) & SIGN_MASK;
        x = Math.abs(x);
        // scale by 4/pi, j = (int(y) + 1) & ~1
        int j = (int) (x * FOPI);
        j = (j + 1) & ~1;
        float y = (float) j;
        int swapSignSin = (j & 4) << 29;
        boolean sinPolyIsSine = (j & 2) == 0;

        // extended precision modular arithmetic: x = ((x - y*DP1) - y*DP2) - y*DP3
        x = Math.fma(y, MINUS_DP1, x);
        x = Math.fma(y, MINUS_DP2, x);
        x = Math.fma(y, MINUS_DP3, x);

        int signCos = (~(j - 2) & 4) << 29;
        signSin ^= swapSignSin;

        float z = x * x;
        // first polynomial (cosine on [0, pi/4])
        float c = Math.fma(COSCOF_P0, z, COSCOF_P1);
        c = Math.fma(c, z, COSCOF_P2);
        c = c * z;
        c = Math.fma(c, z, -(z * 0.5f));
        c = c + 1f;
        // second polynomial (sine on [0, pi/4])
        float s = Math.fma(SINCOF_P0, z, SINCOF_P1);
        s = Math.fma(s, z, SINCOF_P2);
        s = s * z;
        s = Math.fma(s, x, x);

        // select the polynomials as the intrinsics do, by masking and adding zeros (this also fixes the sign of 0)
        float sinFromS = sinPolyIsSine ? s : 0f;
        float sinFromC = sinPolyIsSine ? 0f : c;
        float sin = sinFromC + sinFromS;
        float cos = (c - sinFromC) + (s - sinFromS);
        out[0] = Float.intBitsToFloat(Float.floatToRawIntBits(sin) ^ signSin);
        out[1] = Float.intBitsToFloat(Float.floatToRawIntBits(cos) ^ signCos);
    }
}
