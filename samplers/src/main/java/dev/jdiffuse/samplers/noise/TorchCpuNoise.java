package dev.jdiffuse.samplers.noise;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.NoiseSource;

/**
 * Noise identical to {@code torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed),
 * dtype=torch.float32)}, bit for bit, and to every further {@code randn} call on that generator: the same seed gives
 * the same initial latents (and stochastic-sampler noise) as diffusers and ComfyUI with a CPU generator.
 *
 * <p>Generated in pure Java by {@link TorchCpuGenerator} (no native random state is involved, so the engine's own
 * seed does not matter). One instance per request: it holds the generator state and is deliberately not thread-safe;
 * consecutive {@link #normal} calls continue one stream.
 *
 * <p>The reference is torch on x86 CPUs, where tensors of 16 or more floats go through its AVX2 kernel (also on
 * AVX-512 CPUs); checked bit for bit against torch 2.11.0 (AVX2 and AVX-512 dispatch) and libtorch 2.7.1. Torch
 * builds running their non-vectorised kernel (ATen capability DEFAULT, e.g. on ARM) use libm's log/sin/cos instead
 * and differ from these values in the last bits of about a third of the elements.
 */
public final class TorchCpuNoise implements NoiseSource {

    private final TorchCpuGenerator generator;

    /** Seeded like {@code torch.Generator("cpu").manual_seed(seed)} ({@code seed} read as unsigned 64-bit). */
    public TorchCpuNoise(long seed) {
        this.generator = new TorchCpuGenerator(seed);
    }

    /** Standard normal float32 array of {@code shape} (any rank, row-major as torch fills it), in {@code manager}. */
    @Override
    public NDArray normal(NDManager manager, Shape shape) {
        return manager.create(normalValues(shape), shape);
    }

    /** The values of {@link #normal} as a row-major array, advancing the stream the same way. */
    public float[] normalValues(Shape shape) {
        long size = shape.size();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("noise tensor too large for one array: " + shape);
        }
        float[] values = new float[(int) size];
        generator.fillNormal(values);
        return values;
    }
}
