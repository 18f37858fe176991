package dev.jdiffuse.server.api;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

import java.util.List;

/**
 * The JSON body of {@code POST /v1/generations} and {@code POST /v1/schedule}. Every field may be omitted (null); the
 * validator fills documented defaults (see {@code docs/api.md}), so fields added later never break old clients.
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record GenerationBody(String model, String prompt, String negativePrompt, Integer width, Integer height,
        Integer steps, String sampler, String schedule, Double guidanceScale, Double guidanceRescale, Long seed,
        Integer batchSize, Integer classLabel, List<ControlNetBody> controlnets, PreviewBody preview, String initImage,
        Double strength, Long subseed, Double subseedStrength, Integer clipSkip, String promptSyntax) {

    /** One ControlNet: its name, an upload id, its scale and the fraction of steps it is active in. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record ControlNetBody(String model, String image, Double scale, Double start, Double end) {
    }

    /** {@code method} none|rgb|taesd|latent, every {@code every} steps, long side at most {@code max_size}. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record PreviewBody(String method, Integer every, Integer maxSize) {
    }
}
