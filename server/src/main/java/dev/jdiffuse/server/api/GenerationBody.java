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
        Double strength, Long subseed, Double subseedStrength, String mask, Integer maskBlur, Boolean inpaintFullRes,
        Integer inpaintFullResPadding, Boolean pasteBack, OutpaintBody outpaint, HiresBody hires,
        List<LoraBody> loras, Integer clipSkip, String promptSyntax, Double aestheticScore,
        Double negativeAestheticScore, Double trueCfgScale, Boolean discardPenultimateSigma, String vaeTiling,
        Integer vaeTileSize) {

    /**
     * This body for one image of a multi-image request (the A1111 and OpenAI layers run each image as its own job):
     * {@code seed}, {@code subseed} as given, batch size 1, every other field kept.
     */
    public GenerationBody forImage(Long seed, Long subseed) {
        return new GenerationBody(model, prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, 1, classLabel, controlnets, preview, initImage, strength, subseed,
                subseedStrength, mask, maskBlur, inpaintFullRes, inpaintFullResPadding, pasteBack, outpaint, hires,
                loras, clipSkip, promptSyntax, aestheticScore, negativeAestheticScore, trueCfgScale,
                discardPenultimateSigma, vaeTiling, vaeTileSize);
    }

    /** One ControlNet: its name, an upload id, its scale and the fraction of steps it is active in. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record ControlNetBody(String model, String image, Double scale, Double start, Double end) {
    }

    /** One LoRA of the {@code --loras} folder by name, with its multiplier (default 1). */
    public record LoraBody(String name, Double scale) {
    }

    /** {@code method} none|rgb|taesd|latent, every {@code every} steps, long side at most {@code max_size}. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record PreviewBody(String method, Integer every, Integer maxSize) {
    }

    /** Pixels added on each side of the init image before inpainting the new border. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record OutpaintBody(Integer left, Integer right, Integer top, Integer bottom) {
    }

    /** AUTOMATIC1111's hires fix: {@code scale} or {@code width} and {@code height}, steps, strength, upscaler. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record HiresBody(Double scale, Integer width, Integer height, Integer steps, Double strength,
            String upscaler) {
    }
}
