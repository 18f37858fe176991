package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.safetensors.SafetensorsFile;

/** Reads the inputs of an {@code sd3_transformer/*} case's {@code io.safetensors} and runs the model on them. */
final class Sd3Io {

    private Sd3Io() {
    }

    /** Tensor {@code name} of {@code io} as a float32 array of its saved shape, in {@code m}. */
    static NDArray read(NDManager m, SafetensorsFile io, String name) {
        return m.create(io.toFloatArray(name), new Shape(io.info(name).shape()));
    }

    /** The model on the case's saved batch: hidden_states, encoder_hidden_states, pooled_projections, timestep. */
    static NDArray forward(SD3Transformer2DModel model, NDManager act, SafetensorsFile io) {
        return model.forward(read(act, io, "hidden_states"), read(act, io, "encoder_hidden_states"),
                read(act, io, "pooled_projections"), io.toDoubleArray("timestep"));
    }
}
