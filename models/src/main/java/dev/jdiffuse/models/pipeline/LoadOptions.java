package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
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
 */
public record LoadOptions(Device device, DataType dtype, AutoencoderTiny taesd, Path singleFileConfig,
        String predictionType) {

    public LoadOptions(Device device, DataType dtype, AutoencoderTiny taesd, Path singleFileConfig) {
        this(device, dtype, taesd, singleFileConfig, null);
    }

    public static LoadOptions cpu() {
        return new LoadOptions(Device.cpu(), DataType.FLOAT32, null, null, null);
    }

    public LoadOptions withSingleFileConfig(Path config) {
        return new LoadOptions(device, dtype, taesd, config, predictionType);
    }

    public LoadOptions withPredictionType(String type) {
        return new LoadOptions(device, dtype, taesd, singleFileConfig, type);
    }
}
