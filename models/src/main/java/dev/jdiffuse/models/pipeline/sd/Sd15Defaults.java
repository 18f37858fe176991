package dev.jdiffuse.models.pipeline.sd;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Stable Diffusion 1.5's architecture and scheduler configs (diffusers' {@code unet}, {@code vae},
 * {@code text_encoder} configs of the released model; the scheduler as DPM-Solver++ 2M with Karras sigmas on SD's
 * betas), used for a single-file checkpoint given without a config folder, as diffusers' {@code from_single_file}
 * falls back to SD 1.5. The CLIP vocabulary is not part of a checkpoint and cannot be shipped here, so the tokenizer
 * comes from a folder beside the checkpoint.
 */
final class Sd15Defaults {

    private static final List<String> FILES = List.of("unet/config.json", "vae/config.json",
            "text_encoder/config.json", "scheduler/scheduler_config.json");
    private static Path folder;

    private Sd15Defaults() {
    }

    /** A folder holding the four configs in the diffusers layout (extracted once per process). */
    static synchronized Path configFolder() {
        if (folder == null) {
            try {
                Path dir = Files.createTempDirectory("jdiffuse-sd15-config");
                for (String f : FILES) {
                    Path target = dir.resolve(f);
                    Files.createDirectories(target.getParent());
                    try (InputStream in = Sd15Defaults.class.getResourceAsStream("sd15/" + f)) {
                        Files.copy(in, target);
                    }
                    target.toFile().deleteOnExit();
                }
                folder = dir;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot extract the SD 1.5 default configs", e);
            }
        }
        return folder;
    }

    /** {@code <name>.tokenizer/} or {@code tokenizer/} beside the checkpoint. */
    static Path tokenizerBeside(Path checkpoint) {
        String file = checkpoint.getFileName().toString();
        String stem = file.endsWith(".safetensors") ? file.substring(0, file.length() - 12) : file;
        for (Path p : List.of(checkpoint.resolveSibling(stem + ".tokenizer"), checkpoint.resolveSibling("tokenizer"))) {
            if (Files.isDirectory(p)) {
                return p;
            }
        }
        throw new IllegalArgumentException(checkpoint + ": a single-file checkpoint carries no tokenizer; put CLIP's "
                + "vocab.json and merges.txt (or tokenizer.json) in " + checkpoint.resolveSibling(stem + ".tokenizer")
                + ", or give a diffusers config folder of the same family");
    }
}
