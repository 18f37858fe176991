package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.ImagePipeline;

import java.nio.file.Path;

/**
 * Opens one entry of the {@code --models} folder (a diffusers pipeline folder or a single-file checkpoint) on a
 * device in a dtype. The server's only seam to the model code: production passes
 * {@link ModelLoaders#production()}, tests pass their own.
 */
@FunctionalInterface
public interface PipelineLoader {

    /**
     * @param entry the folder or file; its name (without the file extension) is the model's name
     * @param device {@code auto|cpu|cuda|cuda:N}
     * @param dtype {@code auto|fp32|fp16|bf16}
     */
    ImagePipeline load(Path entry, String device, String dtype) throws Exception;
}
