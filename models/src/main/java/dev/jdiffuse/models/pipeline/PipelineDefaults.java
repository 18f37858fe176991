package dev.jdiffuse.models.pipeline;

/** Values a request takes when it omits them, chosen per model family (e.g. 512x512 for SD1, 1024x1024 for SDXL). */
public record PipelineDefaults(String sampler, String schedule, int steps, int width, int height,
        double guidanceScale) {
}
