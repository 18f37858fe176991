package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;

import java.util.function.Function;

/** The weights manager a family's loader fills: one per opened model, closed if opening fails. */
public final class FreshWeights {

    private FreshWeights() {
    }

    /**
     * Runs a family's loader with a fresh weights manager on {@code device}, closing the manager if loading fails
     * (on success the returned pipeline owns it).
     */
    public static DiffusionPipeline load(Device device, Function<NDManager, DiffusionPipeline> loader) {
        NDManager weights = NDManager.newBaseManager(device);
        try {
            return loader.apply(weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }
}
