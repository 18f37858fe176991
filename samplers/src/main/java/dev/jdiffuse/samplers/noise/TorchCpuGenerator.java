package dev.jdiffuse.samplers.noise;

/**
 * PyTorch's CPU random generator ({@code torch.Generator("cpu")}), reproduced bit for bit in pure Java, so that a seed
 * gives the same latents here as in diffusers and ComfyUI.
 *
 * <ul>
 *   <li>Engine: MT19937 (Matsumoto &amp; Nishimura 1998) as in {@code aten/src/ATen/core/MT19937RNGEngine.h}.
 *       {@code manual_seed(seed)} takes a 64-bit seed but initialises the state from its low 32 bits only
 *       ({@code state[0] = seed & 0xffffffff}), so seeds {@code s} and {@code s + 2^32} give the same stream.</li>
 *   <li>{@link #random()} is one engine output, {@link #random64()} two, the first as the high word
 *       ({@code CPUGeneratorImpl::random64}).</li>
 *   <li>Uniforms ({@code TransformationHelper.h uniform_real}): float {@code (random() & (2^24-1)) * 2^-24},
 *       double {@code (random64() & (2^53-1)) * 2^-53}, both in [0, 1).</li>
 *   <li>Normals ({@code native/cpu/DistributionTemplates.h normal_kernel}): see {@link #fillNormal(float[])}.</li>
 * </ul>
 *
 * <p>Holds mutable state (the engine and the cached second Box-Muller double): not thread-safe, one instance per
 * request.
 */
public final class TorchCpuGenerator {

    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private static final float FLOAT_DIVISOR = 1f / (1 << 24);
    private static final double DOUBLE_DIVISOR = 1.0 / (1L << 53);
    private static final long DOUBLE_MASK = (1L << 53) - 1;
    /** {@code _mm256_set1_ps(2.0f * c10::pi<double>)}: the double product rounded to float. */
    private static final float TWO_PI_FLOAT = (float) (2.0 * Math.PI);
    /** {@code normal_fill} transforms blocks of this many uniforms. */
    private static final int BLOCK = 16;

    private final int[] state = new int[N];
    private int left;
    private int next;
    private boolean hasCachedNormal;
    private double cachedNormal;
    private final float[] sinCos = new float[2];

    /** Same as {@code torch.Generator("cpu").manual_seed(seed)}; {@code seed} is read as an unsigned 64-bit value. */
    public TorchCpuGenerator(long seed) {
        manualSeed(seed);
    }

    /** {@code CPUGeneratorImpl::set_current_seed}: re-initialises the engine and drops the cached normal. */
    public void manualSeed(long seed) {
        hasCachedNormal = false;
        state[0] = (int) seed;
        for (int j = 1; j < N; j++) {
            int prev = state[j - 1];
            state[j] = 1812433253 * (prev ^ (prev >>> 30)) + j;
        }
        left = 1;
        next = 0;
    }

    /** Next 32-bit engine output (an unsigned value carried in an {@code int}). */
    public int random() {
        if (--left == 0) {
            twist();
        }
        int y = state[next++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    /** Two outputs combined as {@code (first << 32) | second}. */
    public long random64() {
        long hi = random() & 0xffffffffL;
        long lo = random() & 0xffffffffL;
        return (hi << 32) | lo;
    }

    /** {@code uniform_real_distribution<float>(0, 1)}: 24 random bits, in [0, 1). */
    public float uniformFloat() {
        return (random() & 0xffffff) * FLOAT_DIVISOR;
    }

    /** {@code uniform_real_distribution<double>(0, 1)}: 53 random bits, in [0, 1). */
    public double uniformDouble() {
        return (random64() & DOUBLE_MASK) * DOUBLE_DIVISOR;
    }

    /**
     * {@code normal_distribution<double>(0, 1)}: Box-Muller on two double uniforms, {@code r = sqrt(-2 log1p(-u2))},
     * returning {@code r cos(2 pi u1)} and caching {@code r sin(2 pi u1)} for the next call. Uses {@link StrictMath}
     * (fdlibm; glibc's {@code log1p} is the same fdlibm code) so results do not depend on the JIT.
     */
    public double normalDouble() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = uniformDouble();
        double u2 = uniformDouble();
        double r = Math.sqrt(-2.0 * StrictMath.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * StrictMath.sin(theta);
        hasCachedNormal = true;
        return r * StrictMath.cos(theta);
    }

    /**
     * Fills {@code out} exactly as {@code torch.randn} fills a contiguous float32 tensor of {@code out.length}
     * elements.
     *
     * <p>With at least 16 elements ({@code normal_fill_AVX2}): every element first gets a float uniform, then each
     * block of 16 is transformed in place by Box-Muller over the pairs (j, j+8); if the length is not a multiple of
     * 16, the last 16 elements get fresh uniforms and are transformed again. With fewer than 16 elements, each one is
     * {@code (float) normalDouble()}, which consumes and leaves the cached second value.
     */
    public void fillNormal(float[] out) {
        int size = out.length;
        if (size < BLOCK) {
            for (int i = 0; i < size; i++) {
                out[i] = (float) normalDouble();
            }
            return;
        }
        for (int i = 0; i < size; i++) {
            out[i] = uniformFloat();
        }
        for (int i = 0; i + BLOCK <= size; i += BLOCK) {
            boxMuller16(out, i);
        }
        if (size % BLOCK != 0) {
            int start = size - BLOCK;
            for (int i = 0; i < BLOCK; i++) {
                out[start + i] = uniformFloat();
            }
            boxMuller16(out, start);
        }
    }

    /**
     * {@code normal_fill_16_AVX2} on {@code data[offset .. offset+16)}: for j &lt; 8, {@code u1 = 1 - d[j]},
     * {@code u2 = d[j+8]}, {@code radius = sqrt(-2 log u1)}, {@code theta = 2 pi u2}, {@code d[j] = radius cos theta},
     * {@code d[j+8] = radius sin theta}, all in float with the Cephes log/sincos of {@link CephesFloatMath}.
     */
    private void boxMuller16(float[] data, int offset) {
        for (int j = 0; j < BLOCK / 2; j++) {
            float u1 = 1f - data[offset + j];
            float u2 = data[offset + j + BLOCK / 2];
            float radius = (float) Math.sqrt(-2f * CephesFloatMath.log(u1));
            CephesFloatMath.sincos(TWO_PI_FLOAT * u2, sinCos);
            data[offset + j] = radius * sinCos[1];
            data[offset + j + BLOCK / 2] = radius * sinCos[0];
        }
    }

    private void twist() {
        int kk = 0;
        for (; kk < N - M; kk++) {
            state[kk] = state[kk + M] ^ mix(state[kk], state[kk + 1]);
        }
        for (; kk < N - 1; kk++) {
            state[kk] = state[kk + (M - N)] ^ mix(state[kk], state[kk + 1]);
        }
        state[N - 1] = state[M - 1] ^ mix(state[N - 1], state[0]);
        left = N;
        next = 0;
    }

    private static int mix(int u, int v) {
        int y = (u & UPPER_MASK) | (v & LOWER_MASK);
        return (y >>> 1) ^ ((v & 1) != 0 ? MATRIX_A : 0);
    }
}
