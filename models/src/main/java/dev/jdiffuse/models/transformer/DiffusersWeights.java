package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;

import java.nio.file.Path;

/** Finding a diffusers model's weights in its folder, the compute dtype of loaded weights, per-row timesteps. */
public final class DiffusersWeights {

    /** The single-file weights name {@code save_pretrained} writes. */
    public static final String SINGLE = "diffusion_pytorch_model.safetensors";
    /** The index of a sharded checkpoint. */
    public static final String INDEX = SINGLE + ".index.json";

    private DiffusersWeights() {
    }

    /**
     * Opens {@code folder/diffusion_pytorch_model.safetensors}, or the sharded checkpoint its {@code .index.json}
     * describes. 64-bit offsets and single tensors over 2 GiB are the safetensors reader's business.
     */
    public static SafetensorsStateDict open(Path folder) {
        return WeightFiles.open(folder, WeightFiles.DIFFUSERS);
    }

    /** The dtype the module's weights were loaded in: the compute dtype of its forward pass. */
    public static DataType dtypeOf(Module module) {
        return module.namedParameters().values().iterator().next().get().getDataType();
    }

    /** {@code x} in {@code dtype} (no copy when it already is). */
    public static NDArray as(NDArray x, DataType dtype) {
        return x.getDataType() == dtype ? x : x.toType(dtype, false);
    }
    /** One timestep per batch row: {@code timesteps} itself, or its single value repeated {@code batch} times. */
    public static double[] perRow(double[] timesteps, long batch) {
        if (timesteps.length == batch) {
            return timesteps;
        }
        if (timesteps.length != 1) {
            throw new IllegalArgumentException(timesteps.length + " timesteps for a batch of " + batch);
        }
        double[] out = new double[(int) batch];
        java.util.Arrays.fill(out, timesteps[0]);
        return out;
    }
}
