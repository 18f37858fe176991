package dev.jdiffuse.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A diffusers {@code DiTPipeline} folder assembled from the {@code dit} fixture transformer and the {@code vae_kl}
 * fixture VAE, with a DDIM scheduler config (DiT's linear betas) and a two-label {@code id2label}: there is no
 * diffusers DiT pipeline fixture, and both the models' and the server's tests need one.
 */
public final class DiTPipelineFolder {

    /** How the fixture files enter the folder: copies, or symbolic links to the fixtures. */
    public enum Placement {
        COPY, LINK
    }

    static final String DDIM = """
            {"_class_name": "DDIMScheduler", "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
             "clip_sample": false, "num_train_timesteps": 1000, "set_alpha_to_one": true, "steps_offset": 0,
             "prediction_type": "epsilon"}""";

    static final String MODEL_INDEX = """
            {"_class_name": "DiTPipeline", "transformer": ["diffusers", "DiTTransformer2DModel"],
             "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "DDIMScheduler"],
             "id2label": {"0": "tench, Tinca tinca", "1": "goldfish, Carassius auratus"}}""";

    private static final String[] MODEL_FILES = {"config.json", "diffusion_pytorch_model.safetensors"};

    private DiTPipelineFolder() {
    }

    /**
     * Writes the pipeline into {@code folder} (created if absent) and returns it. The caller checks first that the
     * {@code dit} and {@code vae_kl} fixtures are {@linkplain Fixtures#present(String) present}.
     */
    public static Path assemble(Path folder, Placement how) throws IOException {
        place(Fixtures.root().resolve("dit"), folder.resolve("transformer"), how);
        place(Fixtures.root().resolve("vae_kl"), folder.resolve("vae"), how);
        Files.createDirectories(folder.resolve("scheduler"));
        Files.writeString(folder.resolve("scheduler/scheduler_config.json"), DDIM);
        Files.writeString(folder.resolve("model_index.json"), MODEL_INDEX);
        return folder;
    }

    private static void place(Path from, Path to, Placement how) throws IOException {
        Files.createDirectories(to);
        for (String f : MODEL_FILES) {
            if (how == Placement.LINK) {
                Files.createSymbolicLink(to.resolve(f), from.resolve(f));
            } else {
                Files.copy(from.resolve(f), to.resolve(f));
            }
        }
    }
}
