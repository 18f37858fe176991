package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.vae.AutoencoderTiny;

import java.nio.file.Path;

/**
 * Where and in which precision a model is opened ({@link Pipelines#open}; each family's loader reads it).
 *
 * @param singleFileConfig the diffusers config folder for a single-file checkpoint (its components' configs,
 *     tokenizers and scheduler win over what is detected from the file), or null to detect everything
 * @param predictionType {@code epsilon} or {@code v_prediction} for a single-file checkpoint whose convention the
 *     detection gets wrong (e.g. an SD 2.x base 512 model), or null to detect it
 * @param t5Device where the T5 text encoder of SD 3 / 3.5 and FLUX runs apart from the rest, in float32, or null to
 *     keep it with the model in its dtype: T5 v1.1 XXL is 4.7 B parameters (9.5 GB in 16 bits), so {@code cpu} lets
 *     FLUX.1 (23.8 GB) or SD 3.5 Large fit a 32 or 40 GB GPU; float32 is the CPU's exact and well-supported type, and
 *     only the [B, L, 4096] context crosses to the model's device and dtype, once per prompt
 */
public record LoadOptions(Device device, DataType dtype, AutoencoderTiny taesd, Path singleFileConfig,
        String predictionType, Device t5Device) {

    public LoadOptions(Device device, DataType dtype, AutoencoderTiny taesd, Path singleFileConfig,
            String predictionType) {
        this(device, dtype, taesd, singleFileConfig, predictionType, null);
    }

    public LoadOptions(Device device, DataType dtype, AutoencoderTiny taesd, Path singleFileConfig) {
        this(device, dtype, taesd, singleFileConfig, null, null);
    }

    public static LoadOptions cpu() {
        return new LoadOptions(Device.cpu(), DataType.FLOAT32, null, null, null, null);
    }

    public LoadOptions withSingleFileConfig(Path config) {
        return new LoadOptions(device, dtype, taesd, config, predictionType, t5Device);
    }

    public LoadOptions withPredictionType(String type) {
        return new LoadOptions(device, dtype, taesd, singleFileConfig, type, t5Device);
    }

    /** These options with the T5 encoder apart on {@code where} in float32 (null: with the rest of the model). */
    public LoadOptions withT5Device(Device where) {
        return new LoadOptions(device, dtype, taesd, singleFileConfig, predictionType, where);
    }

    /** Whether the T5 encoder lives apart from the rest of the model. */
    public boolean t5Apart() {
        return t5Device != null;
    }

    /**
     * The manager the T5 encoder's weights go in: {@code weights} itself, or a sub-manager of it on {@link #t5Device}
     * (closed with the model's weights, so the pipeline stays their one owner).
     */
    public NDManager t5Weights(NDManager weights) {
        return t5Apart() ? weights.newSubManager(t5Device) : weights;
    }

    /** The T5 encoder's dtype: the model's, or float32 where it lives apart. */
    public DataType t5Dtype() {
        return t5Apart() ? DataType.FLOAT32 : dtype;
    }
}
