package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;

/** Rendering a request through a real pipeline on the CPU and comparing the pixels, for behaviour tests. */
final class PipelineRuns {

    private PipelineRuns() {
    }

    /** The decoded image [B, 3, H, W] of {@code r}, flattened. */
    static float[] pixels(DiffusionPipeline pipe, GenerationRequest r) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }

    static double maxAbs(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
