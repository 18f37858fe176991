package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.checkpoint.GgufCheckpoints;
import dev.jdiffuse.models.checkpoint.PickleCheckpoints;
import dev.jdiffuse.models.checkpoint.Sd3CheckpointDetector;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.flux.FluxCheckpointDetector;
import dev.jdiffuse.models.pipeline.dit.DiTFamily;
import dev.jdiffuse.models.pipeline.dit.DitLoader;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.models.pipeline.flux.FluxLoader;
import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.models.pipeline.sd.StableDiffusionFamily;
import dev.jdiffuse.models.pipeline.sd3.Sd3Loader;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.safetensors.GgufFile;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Opens what users have on disk as an {@link ImagePipeline}: a diffusers pipeline folder (chosen by
 * {@code model_index.json}'s {@code _class_name}) or a single-file {@code .safetensors} checkpoint with original
 * key names, or a FLUX.1 transformer or SD 3 / 3.5 MMDiT as a {@code .gguf} (ComfyUI-GGUF's quantized files) with its
 * parts beside it.
 * The model's name is its folder or file name (without extension).
 */
public final class Pipelines {

    /** How a family opens a folder. */
    @FunctionalInterface
    private interface FolderOpener {
        DiffusionPipeline open(Path folder, String name, LoadOptions options);
    }

    /** diffusers pipeline class to the family that serves it. */
    private static final Map<String, FolderOpener> FOLDERS = new LinkedHashMap<>();

    static {
        for (String cls : StableDiffusionFamily.PIPELINE_CLASSES) {
            FOLDERS.put(cls, SdLoader::openFolder);
        }
        FOLDERS.put(StableDiffusion3Family.PIPELINE_CLASS, Sd3Loader::openFolder);
        FOLDERS.put(DiTFamily.PIPELINE_CLASS, DitLoader::openFolder);
        FOLDERS.put(FluxFamily.PIPELINE_CLASS, FluxLoader::openFolder);
    }

    private Pipelines() {
    }

    /** The one rule naming a model: its folder's name, or its file's name without the weight-file extension. */
    public static String nameOf(Path path) {
        String n = path.getFileName().toString();
        for (String ext : List.of(".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin")) {
            if (n.endsWith(ext) && n.length() > ext.length()) {
                return n.substring(0, n.length() - ext.length());
            }
        }
        return n;
    }

    public static DiffusionPipeline open(Path path, LoadOptions options) {
        String name = nameOf(path);
        if (Files.isRegularFile(path)) {
            if (PickleCheckpoints.isPickle(path)) {
                throw PickleCheckpoints.refusal(path);
            }
            // family and configs detected from the keys and shapes; a config folder's files win where given
            Set<String> keys = headerKeys(path);
            if (FluxCheckpointDetector.isFluxCheckpoint(keys)) {
                return FluxLoader.openSingleFile(path, name, options);
            }
            if (GgufFile.isGguf(path) && !Sd3CheckpointDetector.isSd3(keys)) {
                throw GgufCheckpoints.unsupported(path, keys);
            }
            return Sd3CheckpointDetector.isSd3(keys) ? Sd3Loader.openSingleFile(path, name, options)
                    : SdLoader.openSingleFile(path, name, options);
        }
        String cls = ConfigJson.read(path.resolve("model_index.json")).getString("_class_name", "");
        FolderOpener opener = FOLDERS.get(cls);
        if (opener == null) {
            throw new IllegalArgumentException(path + ": unsupported pipeline class '" + cls + "' (supported: "
                    + FOLDERS.keySet() + ")");
        }
        return opener.open(path, name, options);
    }

    /** A single file's tensor names, to tell the families apart (FLUX, SD 3, SD); no tensor is read. */
    private static Set<String> headerKeys(Path file) {
        try (SafetensorsStateDict header = SafetensorsStateDict.open(file)) {
            return Set.copyOf(header.keys());
        }
    }
}
