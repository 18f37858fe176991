package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.FusedOps;
import dev.jdiffuse.models.nn.HostCopies;
import dev.jdiffuse.samplers.NoiseSource;

/**
 * The sampler's noise draws (ancestral and SDE samplers draw at every step), drawn on the host by {@code inner} as
 * before and copied to the GPU without waiting for it ({@link HostCopies}, {@link FusedOps#hostToDevice}): a plain
 * copy would make the job's thread wait, at every step, until the shared denoiser forward queued before it had finished on the device.
 * On the CPU, or without the copy kernel, {@code inner} draws straight into the manager. The values are the same
 * either way.
 */
record DeviceNoise(NoiseSource inner) implements NoiseSource {

    static NoiseSource of(NoiseSource inner) {
        return inner instanceof DeviceNoise ? inner : new DeviceNoise(inner);
    }

    @Override
    public NDArray normal(NDManager manager, Shape shape) {
        return HostCopies.onDeviceOf(manager, host -> inner.normal(host, shape));
    }
}
