package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.pipeline.dit.DiTPipeline;
import dev.jdiffuse.models.pipeline.sd.StableDiffusionPipeline;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Pipeline;
import dev.jdiffuse.models.vae.AutoencoderTiny;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * Opens what users have on disk as an {@link ImagePipeline}: a diffusers pipeline folder (chosen by
 * {@code model_index.json}'s {@code _class_name}) or a single-file {@code .safetensors} checkpoint with original
 * key names. The model's name is its folder or file name (without extension).
 */
public final class Pipelines {

    /** diffusers pipeline classes served by {@link StableDiffusionPipeline}. */
    public static final Set<String> SD_CLASSES = Set.of("StableDiffusionPipeline", "StableDiffusionXLPipeline",
            "StableDiffusionControlNetPipeline", "StableDiffusionXLControlNetPipeline");

    /** diffusers' SD3 / SD3.5 pipeline class, served by {@link StableDiffusion3Pipeline}. */
    public static final String SD3_CLASS = "StableDiffusion3Pipeline";

    /** diffusers' class-conditional DiT pipeline class, served by {@link DiTPipeline}. */
    public static final String DIT_CLASS = "DiTPipeline";

    private Pipelines() {
    }

    /**
     * Where and in which precision to run; {@code singleFileConfig} is the diffusers config folder for a single-file
     * checkpoint, or null for Stable Diffusion 1.5's.
     */
    public record Options(Device device, DataType dtype, AutoencoderTiny taesd, Path singleFileConfig) {

        public static Options cpu() {
            return new Options(Device.cpu(), DataType.FLOAT32, null, null);
        }
    }

    /** Whether {@code path} looks like something {@link #open} can load (for scanning a models folder). */
    public static boolean isModel(Path path) {
        if (Files.isDirectory(path)) {
            return Files.isRegularFile(path.resolve("model_index.json"));
        }
        return Files.isRegularFile(path) && path.getFileName().toString().endsWith(".safetensors");
    }

    public static String nameOf(Path path) {
        String n = path.getFileName().toString();
        return n.endsWith(".safetensors") ? n.substring(0, n.length() - ".safetensors".length()) : n;
    }

    public static ImagePipeline open(Path path, Options options) {
        String name = nameOf(path);
        if (Files.isRegularFile(path)) {
            // without a config folder: Stable Diffusion 1.5's configs, tokenizer beside the file
            return StableDiffusionPipeline.openSingleFile(path, options.singleFileConfig(), name, options.device(),
                    options.dtype(), options.taesd());
        }
        String cls = ConfigJson.read(path.resolve("model_index.json")).getString("_class_name", "");
        if (SD_CLASSES.contains(cls)) {
            return StableDiffusionPipeline.openFolder(path, name, options.device(), options.dtype(), options.taesd());
        }
        if (cls.equals(SD3_CLASS)) {
            return StableDiffusion3Pipeline.openFolder(path, name, options.device(), options.dtype(), options.taesd());
        }
        if (cls.equals(DIT_CLASS)) {
            return DiTPipeline.openFolder(path, name, options.device(), options.dtype(), options.taesd());
        }
        throw new IllegalArgumentException(path + ": unsupported pipeline class '" + cls + "' (supported: "
                + SD_CLASSES + ", " + SD3_CLASS + ", " + DIT_CLASS + ")");
    }
}
