package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.prompt.PromptSyntax;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Objects;

/**
 * Everything one generation needs, already validated by the caller (the server validates ranges and names; a pipeline
 * re-checks only what depends on the model, e.g. the sampler name or the size multiple).
 *
 * @param prompt text prompt; for class-conditional models (DiT) without {@code classLabel}, the class as an index
 *     ("207") or one of the folder's {@code id2label} names ("golden retriever")
 * @param negativePrompt text for the unconditional branch of classifier-free guidance ("" = empty prompt)
 * @param width image width in pixels (a multiple of the model's pixel-per-latent factor, usually 8)
 * @param height image height in pixels
 * @param steps number of sampler steps
 * @param sampler sampler name ({@code dev.jdiffuse.samplers} registry), or null for the model's default
 * @param schedule sigma schedule name ("default" = the model's scheduler config; "karras", "exponential", ...), or null
 * @param guidanceScale classifier-free guidance scale; 1 disables the unconditional pass
 * @param guidanceRescale guidance rescale phi (Lin et al. 2024), 0 disables
 * @param seed seed of the torch-compatible CPU noise stream for the initial latents and sampler noise
 * @param batchSize images per request, drawn as one [B, C, h, w] noise tensor as diffusers does
 * @param classLabel class index for class-conditional models (DiT), or null to take the class from the prompt
 * @param controlnets ControlNets to apply (possibly empty)
 * @param preview how to preview intermediate steps
 * @param init the image to start from (image-to-image), or null to start from pure noise
 * @param variation a variation seed blended into the initial noise (AUTOMATIC1111's), or null for none
 * @param clipSkip AUTOMATIC1111's "Clip skip": 1 = CLIP's last layer, n = the n-th layer from the end (then CLIP's
 *     final norm); SDXL's penultimate context moves back by {@code clipSkip - 1} layers
 * @param promptSyntax how the prompts are read: emphasis syntax and BREAK ({@code A1111}) or literal text
 */
public record GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
        String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize, Integer classLabel,
        List<ControlSpec> controlnets, PreviewSpec preview, InitImage init, Variation variation, int clipSkip,
        PromptSyntax promptSyntax) {

    /**
     * AUTOMATIC1111's variation seed: the initial noise is {@code slerp(strength, randn(seed), randn(subseed))}
     * (strength 0: the seed's noise, 1: the subseed's); the sampler's later draws stay on the seed's stream.
     */
    public record Variation(long subseed, double strength) {
    }

    /**
     * Image-to-image: the picture to start from and how much of the schedule to run over it (diffusers'
     * {@code strength}: 1 repaints from noise, small values keep the image; the run starts at step
     * {@code steps - floor(steps * strength)}).
     */
    public record InitImage(BufferedImage image, double strength) {

        public InitImage {
            Objects.requireNonNull(image, "image");
        }
    }

    public GenerationRequest {
        Objects.requireNonNull(prompt, "prompt");
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        controlnets = controlnets == null ? List.of() : List.copyOf(controlnets);
        preview = preview == null ? PreviewSpec.NONE : preview;
        promptSyntax = promptSyntax == null ? PromptSyntax.A1111 : promptSyntax;
        if (clipSkip < 1) {
            throw new IllegalArgumentException("clipSkip must be >= 1: " + clipSkip);
        }
    }

    /** Clip skip 1 and A1111's prompt syntax. */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
            String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize,
            Integer classLabel, List<ControlSpec> controlnets, PreviewSpec preview, InitImage init,
            Variation variation) {
        this(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale, guidanceRescale, seed,
                batchSize, classLabel, controlnets, preview, init, variation, 1, PromptSyntax.A1111);
    }

    /** A plain text-to-image request with the model's default sampler and schedule and no previews. */
    public static GenerationRequest of(String prompt, String negativePrompt, int width, int height, int steps,
            double guidanceScale, long seed) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, null, null, guidanceScale, 0.0,
                seed, 1, null, List.of(), PreviewSpec.NONE, null, null);
    }

    public GenerationRequest withSampler(String sampler, String schedule) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, batchSize, classLabel, controlnets, preview, init, variation,
                clipSkip, promptSyntax);
    }

    public GenerationRequest withControlnets(List<ControlSpec> list) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, batchSize, classLabel, list, preview, init, variation, clipSkip,
                promptSyntax);
    }

    public GenerationRequest withPreview(PreviewSpec spec) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, batchSize, classLabel, controlnets, spec, init, variation, clipSkip,
                promptSyntax);
    }

    /**
     * The sampler steps that run: all of them, or for image-to-image the last {@code floor(steps x strength)}
     * (diffusers' {@code get_timesteps}: {@code init_timestep = min(int(steps * strength), steps)}).
     */
    public int stepsRun() {
        return init == null ? steps : Math.min((int) (steps * init.strength()), steps);
    }

    public GenerationRequest withInit(InitImage start) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, batchSize, classLabel, controlnets, preview, start, variation, clipSkip,
                promptSyntax);
    }

    public GenerationRequest withVariation(Variation v) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, batchSize, classLabel, controlnets, preview, init, v, clipSkip,
                promptSyntax);
    }

    public GenerationRequest withClipSkip(int n) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, batchSize, classLabel, controlnets, preview, init, variation, n, promptSyntax);
    }

    public GenerationRequest withPromptSyntax(PromptSyntax syntax) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale,
                guidanceRescale, seed, batchSize, classLabel, controlnets, preview, init, variation, clipSkip, syntax);
    }
}
