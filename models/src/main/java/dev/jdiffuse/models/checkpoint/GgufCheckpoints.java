package dev.jdiffuse.models.checkpoint;

import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/**
 * GGUF diffusion models (ComfyUI-GGUF / Forge files such as {@code flux1-dev-Q8_0.gguf}, {@code sd3.5_large-Q8_0.gguf})
 * hold one model alone under its original names: a FLUX.1 transformer is served through the FLUX single-file path
 * with its VAE and text encoders beside it ({@link FluxSingleFile}), an SD 3 / 3.5 MMDiT through the SD 3 one
 * ({@link Sd3TextEncoderFiles}, a diffusers {@code vae/} folder beside it). Other families are refused here, naming
 * what the file holds, rather than failing deep inside a loader that expects a bundling checkpoint.
 */
public final class GgufCheckpoints {

    private GgufCheckpoints() {
    }

    /** Why the GGUF {@code file} with tensor names {@code keys} cannot be served. */
    public static CheckpointFormatException unsupported(Path file, Set<String> keys) {
        String holds;
        if (keys.stream().anyMatch(k -> k.startsWith("input_blocks.") || k.contains(".input_blocks."))) {
            holds = "a Stable Diffusion UNet (input_blocks.*) without its VAE and text encoders, which jdiffuse does "
                    + "not assemble from separate files; serve the .safetensors checkpoint or the diffusers folder";
        } else {
            Set<String> sample = new TreeSet<>();
            keys.stream().sorted().limit(5).forEach(sample::add);
            holds = "no model jdiffuse recognises (tensors " + sample + (keys.size() > 5 ? ", ..." : "") + ")";
        }
        return new CheckpointFormatException(file + ": a GGUF file holding " + holds + ". GGUF is read for FLUX.1 "
                + "transformers (img_in, double_blocks, single_blocks) with " + FluxSingleFile.AE_FILE + " and "
                + Sd3TextEncoderFiles.FOLDER + "/ beside them, and SD 3 / 3.5 MMDiTs (joint_blocks) with vae/ and "
                + Sd3TextEncoderFiles.FOLDER + "/ beside them");
    }
}
