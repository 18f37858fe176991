package dev.jdiffuse.models.pipeline;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A single file's optional diffusers config folder ({@code X.config/}, as diffusers'
 * {@code from_single_file(config=...)}): a component it holds wins over what is detected from the file.
 *
 * @param dir the folder, or null when there is none
 */
public record ConfigFolder(Path dir) {

    /** {@code dir/relative} when the folder has it, else null. */
    public Path file(String relative) {
        if (dir == null) {
            return null;
        }
        Path p = dir.resolve(relative);
        return Files.exists(p) ? p : null;
    }

    /** diffusers' component name: {@code base} for the first, {@code base_n} for the n-th ({@code text_encoder_2}). */
    public static String component(String base, int n) {
        return n == 1 ? base : base + "_" + n;
    }
}
