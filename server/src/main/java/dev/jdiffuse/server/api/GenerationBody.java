package dev.jdiffuse.server.api;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;

/**
 * The JSON body of {@code POST /v1/generations} and {@code POST /v1/schedule}. Every field may be omitted (null); the
 * validator fills documented defaults (see {@code docs/api.md}), so fields added later never break old clients.
 */
public record GenerationBody(
        @JsonProperty("model") String model,
        @JsonProperty("prompt") String prompt,
        @JsonProperty("negative_prompt") String negativePrompt,
        @JsonProperty("width") Integer width,
        @JsonProperty("height") Integer height,
        @JsonProperty("steps") Integer steps,
        @JsonProperty("sampler") String sampler,
        @JsonProperty("schedule") String schedule,
        @JsonProperty("guidance_scale") Double guidanceScale,
        @JsonProperty("guidance_rescale") Double guidanceRescale,
        @JsonProperty("seed") Long seed,
        @JsonProperty("batch_size") Integer batchSize,
        @JsonProperty("class_label") Integer classLabel,
        @JsonProperty("controlnets") List<ControlNetBody> controlnets,
        @JsonProperty("preview") PreviewBody preview) {

    /** One ControlNet: its name, an upload id, its scale and the fraction of steps it is active in. */
    public record ControlNetBody(
            @JsonProperty("model") String model,
            @JsonProperty("image") String image,
            @JsonProperty("scale") Double scale,
            @JsonProperty("start") Double start,
            @JsonProperty("end") Double end) {
    }

    /** Previews: {@code method} none|rgb|taesd|latent, every {@code every} steps, long side at most {@code max_size}. */
    public record PreviewBody(
            @JsonProperty("method") String method,
            @JsonProperty("every") Integer every,
            @JsonProperty("max_size") Integer maxSize) {
    }
}
