package dev.jdiffuse.models.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.function.Function;

/**
 * Arrays computed on the host (timestep sinusoids, position tables) put on the device of the array they meet without
 * synchronising its stream: DJL's {@code create} on a GPU manager copies with {@code non_blocking=False}, which makes
 * the host wait for every kernel already queued, once per copy and step (docs/batching.md, "Nothing waits for the
 * device between steps"). On the CPU, or without the fused-ops library, the array is made where it is needed.
 */
public final class HostCopies {

    private HostCopies() {
    }

    /**
     * {@code make} run on a host manager, its result copied to {@code target}'s device without waiting and owned by
     * {@code target}; on a CPU target, {@code make(target)} itself.
     */
    public static NDArray onDeviceOf(NDManager target, Function<NDManager, NDArray> make) {
        if (!target.getDevice().isGpu() || !FusedOps.hasHostToDevice()) {
            return make.apply(target);
        }
        try (NDManager host = target.newSubManager(Device.cpu());
                NDArray like = target.zeros(new Shape(), DataType.FLOAT32)) {
            return FusedOps.hostToDevice(make.apply(host), like);
        }
    }
}
