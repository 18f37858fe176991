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
     * {@code host} copied to {@code device} without waiting for the device's queue, in {@code host}'s manager (as
     * DJL's {@code toDevice} leaves it); {@code host} itself when it is already there. For the arrays a job makes on
     * the host as it starts (token ids, the initial noise, masks, time ids): with DJL's blocking copy each of them
     * waited for every forward queued by the jobs already running, so under continuous batching new jobs joined one or
     * two forwards late each (an H200 burst of 16 SD 1.5 users took 14 forwards to gather all of them, session 8).
     */
    public static NDArray toDevice(NDArray host, Device device) {
        if (host.getDevice().equals(device)) {
            return host;
        }
        if (!device.isGpu() || host.getDevice().isGpu() || !FusedOps.hasHostToDevice()) {
            return host.toDevice(device, false);
        }
        try (NDArray like = host.getManager().zeros(new Shape(), DataType.FLOAT32, device)) {
            return FusedOps.hostToDevice(host, like);
        }
    }

    /**
     * {@code make} run on a host sub-manager of {@code owner}, its result copied to {@code device} without waiting and
     * owned by {@code owner}. For arrays made from host data in a manager whose device is a GPU (a job's manager
     * inherits the weights' device): DJL's {@code create} there copies with the blocking copy.
     */
    public static NDArray onDevice(NDManager owner, Device device, Function<NDManager, NDArray> make) {
        if (!device.isGpu() || !FusedOps.hasHostToDevice()) {
            return make.apply(owner).toDevice(device, false);
        }
        try (NDManager host = owner.newSubManager(Device.cpu());
                NDArray like = owner.zeros(new Shape(), DataType.FLOAT32, device)) {
            return FusedOps.hostToDevice(make.apply(host), like);
        }
    }

    /**
     * {@code make} run on a host manager, its result copied to {@code target}'s device without waiting and owned by
     * {@code target}; on a CPU target, {@code make(target)} itself.
     */
    public static NDArray onDeviceOf(NDManager target, Function<NDManager, NDArray> make) {
        return onDevice(target, target.getDevice(), make);
    }
}
