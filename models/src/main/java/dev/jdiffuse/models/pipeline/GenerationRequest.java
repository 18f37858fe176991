package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.lora.LoraSpec;
import dev.jdiffuse.models.prompt.PromptSyntax;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

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
 * @param loras LoRAs merged into the weights for this request, each with its scale (possibly empty)
 * @param inpaint a mask over {@code init} (white = repaint) and how to apply it, or null for none
 * @param hires AUTOMATIC1111's hires fix (a second, image-to-image pass at a larger size), or null for none
 * @param clipSkip AUTOMATIC1111's "Clip skip": 1 = CLIP's last layer, n = the n-th layer from the end (then CLIP's
 *     final norm); SDXL's penultimate context moves back by {@code clipSkip - 1} layers
 * @param promptSyntax how the prompts are read: emphasis syntax and BREAK ({@code A1111}) or literal text
 * @param aesthetics the SDXL refiner's aesthetic-score conditioning; null means diffusers' defaults
 *     ({@link Aesthetics#DEFAULT}); models without it ignore it
 * @param trueCfgScale "true" classifier-free guidance for guidance-distilled models (diffusers' FLUX
 *     {@code true_cfg_scale}): above 1, a second forward on {@code negativePrompt} and {@code D_neg + s (D - D_neg)},
 *     on top of the distilled {@code guidanceScale} the model embeds; 1 (the default) disables it. Families that
 *     guide with {@code guidanceScale} itself refuse any other value.
 * @param discardPenultimateSigma compute the schedule for {@code steps + 1} steps and drop its next-to-last level
 *     ({@code dev.jdiffuse.schedulers.PenultimateSigma}), as ComfyUI's KSampler does for DPM2, DPM2 a and UniPC and
 *     AUTOMATIC1111 for DPM2, DPM2 a and DPM++ 3M SDE: still {@code steps} steps, ending on the same final level;
 *     image-to-image and the hires pass enter the dropped schedule
 * @param vaeTiling whether the VAE works in tiles ({@link VaeTiling}); null means {@link VaeTiling#AUTO}
 */
public record GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
        String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize, Integer classLabel,
        List<ControlSpec> controlnets, PreviewSpec preview, InitImage init, Variation variation,
        List<LoraSpec> loras, Inpaint inpaint, Hires hires, int clipSkip, PromptSyntax promptSyntax,
        Aesthetics aesthetics, double trueCfgScale, boolean discardPenultimateSigma, VaeTiling vaeTiling) {

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

    /**
     * The SDXL refiner's aesthetic-score conditioning (diffusers' {@code aesthetic_score} and
     * {@code negative_aesthetic_score} of {@code StableDiffusionXLImg2ImgPipeline} with
     * {@code requires_aesthetics_score}): the last of its five time ids, for the conditional and the unconditional
     * half of guidance. The scores are the LAION aesthetics predictor's, on a 0..10 scale.
     */
    public record Aesthetics(double score, double negativeScore) {

        /** diffusers' defaults: 6.0 and 2.5. */
        public static final Aesthetics DEFAULT = new Aesthetics(6.0, 2.5);

        public Aesthetics {
            if (!Double.isFinite(score) || !Double.isFinite(negativeScore)) {
                throw new IllegalArgumentException("aesthetic scores must be finite: " + score + ", " + negativeScore);
            }
        }
    }

    public GenerationRequest {
        Objects.requireNonNull(prompt, "prompt");
        aesthetics = aesthetics == null ? Aesthetics.DEFAULT : aesthetics;
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        controlnets = controlnets == null ? List.of() : List.copyOf(controlnets);
        preview = preview == null ? PreviewSpec.NONE : preview;
        loras = loras == null ? List.of() : List.copyOf(loras);
        promptSyntax = promptSyntax == null ? PromptSyntax.A1111 : promptSyntax;
        vaeTiling = vaeTiling == null ? VaeTiling.AUTO : vaeTiling;
        if (clipSkip < 1) {
            throw new IllegalArgumentException("clipSkip must be >= 1: " + clipSkip);
        }
        if (!(trueCfgScale >= 1)) {
            throw new IllegalArgumentException("trueCfgScale must be >= 1: " + trueCfgScale);
        }
    }

    /** The VAE untiled unless memory runs out ({@link VaeTiling#AUTO}). */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
            String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize,
            Integer classLabel, List<ControlSpec> controlnets, PreviewSpec preview, InitImage init,
            Variation variation, List<LoraSpec> loras, Inpaint inpaint, Hires hires, int clipSkip,
            PromptSyntax promptSyntax, Aesthetics aesthetics, double trueCfgScale, boolean discardPenultimateSigma) {
        this(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale, guidanceRescale, seed,
                batchSize, classLabel, controlnets, preview, init, variation, loras, inpaint, hires, clipSkip,
                promptSyntax, aesthetics, trueCfgScale, discardPenultimateSigma, null);
    }

    /** The whole schedule of {@code steps} steps (no level dropped). */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
            String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize,
            Integer classLabel, List<ControlSpec> controlnets, PreviewSpec preview, InitImage init,
            Variation variation, List<LoraSpec> loras, Inpaint inpaint, Hires hires, int clipSkip,
            PromptSyntax promptSyntax, Aesthetics aesthetics, double trueCfgScale) {
        this(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale, guidanceRescale, seed,
                batchSize, classLabel, controlnets, preview, init, variation, loras, inpaint, hires, clipSkip,
                promptSyntax, aesthetics, trueCfgScale, false);
    }

    /** No true classifier-free guidance ({@code trueCfgScale} 1). */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
            String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize,
            Integer classLabel, List<ControlSpec> controlnets, PreviewSpec preview, InitImage init,
            Variation variation, List<LoraSpec> loras, Inpaint inpaint, Hires hires, int clipSkip,
            PromptSyntax promptSyntax, Aesthetics aesthetics) {
        this(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale, guidanceRescale, seed,
                batchSize, classLabel, controlnets, preview, init, variation, loras, inpaint, hires, clipSkip,
                promptSyntax, aesthetics, 1.0);
    }

    /** diffusers' default aesthetic scores ({@link Aesthetics#DEFAULT}). */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
            String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize,
            Integer classLabel, List<ControlSpec> controlnets, PreviewSpec preview, InitImage init,
            Variation variation, List<LoraSpec> loras, Inpaint inpaint, Hires hires, int clipSkip,
            PromptSyntax promptSyntax) {
        this(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale, guidanceRescale, seed,
                batchSize, classLabel, controlnets, preview, init, variation, loras, inpaint, hires, clipSkip,
                promptSyntax, null);
    }

    /** Clip skip 1 and A1111's prompt syntax. */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
            String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize,
            Integer classLabel, List<ControlSpec> controlnets, PreviewSpec preview, InitImage init,
            Variation variation) {
        this(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale, guidanceRescale, seed,
                batchSize, classLabel, controlnets, preview, init, variation, List.of(), null, null);
    }

    /** Clip skip 1 and A1111's prompt syntax, with LoRAs and the inpainting and hires workflows. */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
            String schedule, double guidanceScale, double guidanceRescale, long seed, int batchSize,
            Integer classLabel, List<ControlSpec> controlnets, PreviewSpec preview, InitImage init,
            Variation variation, List<LoraSpec> loras, Inpaint inpaint, Hires hires) {
        this(prompt, negativePrompt, width, height, steps, sampler, schedule, guidanceScale, guidanceRescale, seed,
                batchSize, classLabel, controlnets, preview, init, variation, loras, inpaint, hires, 1,
                PromptSyntax.A1111, null);
    }

    /** A plain text-to-image request with the model's default sampler and schedule and no previews. */
    public static GenerationRequest of(String prompt, String negativePrompt, int width, int height, int steps,
            double guidanceScale, long seed) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, null, null, guidanceScale, 0.0,
                seed, 1, null, List.of(), PreviewSpec.NONE, null, null, List.of(), null, null);
    }

    public GenerationRequest withSampler(String sampler, String schedule) {
        return with(c -> {
            c.sampler = sampler;
            c.schedule = schedule;
        });
    }

    public GenerationRequest withControlnets(List<ControlSpec> list) {
        return with(c -> c.controlnets = list);
    }

    public GenerationRequest withPreview(PreviewSpec spec) {
        return with(c -> c.preview = spec);
    }

    /**
     * The sampler steps that run: all of them, or for image-to-image the last {@code floor(steps x strength)}
     * (diffusers' {@code get_timesteps}: {@code init_timestep = min(int(steps * strength), steps)}); with the hires
     * fix, plus its pass's steps (0: {@code steps} again).
     */
    public int stepsRun() {
        int run = init == null ? steps : Math.min((int) (steps * init.strength()), steps);
        return hires == null ? run : run + (hires.steps() > 0 ? hires.steps() : steps);
    }

    public GenerationRequest withInit(InitImage start) {
        return with(c -> c.init = start);
    }

    public GenerationRequest withVariation(Variation v) {
        return with(c -> c.variation = v);
    }

    public GenerationRequest withLoras(List<LoraSpec> list) {
        return with(c -> c.loras = list);
    }

    public GenerationRequest withInpaint(Inpaint in) {
        return with(c -> c.inpaint = in);
    }

    public GenerationRequest withHires(Hires h) {
        return with(c -> c.hires = h);
    }

    public GenerationRequest withSize(int w, int h) {
        return with(c -> {
            c.width = w;
            c.height = h;
        });
    }

    public GenerationRequest withSteps(int n) {
        return with(c -> c.steps = n);
    }

    public GenerationRequest withClipSkip(int n) {
        return with(c -> c.clipSkip = n);
    }

    public GenerationRequest withPromptSyntax(PromptSyntax syntax) {
        return with(c -> c.promptSyntax = syntax);
    }

    public GenerationRequest withAesthetics(Aesthetics a) {
        return with(c -> c.aesthetics = a);
    }

    public GenerationRequest withNegativePrompt(String text) {
        return with(c -> c.negativePrompt = text);
    }

    public GenerationRequest withTrueCfgScale(double scale) {
        return with(c -> c.trueCfgScale = scale);
    }

    public GenerationRequest withDiscardPenultimateSigma(boolean discard) {
        return with(c -> c.discardPenultimateSigma = discard);
    }

    public GenerationRequest withVaeTiling(VaeTiling tiling) {
        return with(c -> c.vaeTiling = tiling);
    }

    /**
     * The steps whose levels the schedule is computed for: {@code steps}, or one more where the next-to-last level is
     * dropped ({@link #discardPenultimateSigma}).
     */
    public int scheduleSteps() {
        return discardPenultimateSigma ? steps + 1 : steps;
    }

    /** This request with what {@code change} sets on a copy of its fields (the {@code withX} methods). */
    private GenerationRequest with(Consumer<Fields> change) {
        Fields c = new Fields(this);
        change.accept(c);
        return new GenerationRequest(c.prompt, c.negativePrompt, c.width, c.height, c.steps, c.sampler, c.schedule,
                c.guidanceScale, c.guidanceRescale, c.seed, c.batchSize, c.classLabel, c.controlnets, c.preview, c.init,
                c.variation, c.loras, c.inpaint, c.hires, c.clipSkip, c.promptSyntax, c.aesthetics, c.trueCfgScale,
                c.discardPenultimateSigma, c.vaeTiling);
    }

    /** The fields of a request, writable, for {@link #with}: one place that lists them all besides the record. */
    private static final class Fields {
        String prompt;
        String negativePrompt;
        int width;
        int height;
        int steps;
        String sampler;
        String schedule;
        double guidanceScale;
        double guidanceRescale;
        long seed;
        int batchSize;
        Integer classLabel;
        List<ControlSpec> controlnets;
        PreviewSpec preview;
        InitImage init;
        Variation variation;
        List<LoraSpec> loras;
        Inpaint inpaint;
        Hires hires;
        int clipSkip;
        PromptSyntax promptSyntax;
        Aesthetics aesthetics;
        double trueCfgScale;
        boolean discardPenultimateSigma;
        VaeTiling vaeTiling;

        Fields(GenerationRequest r) {
            prompt = r.prompt;
            negativePrompt = r.negativePrompt;
            width = r.width;
            height = r.height;
            steps = r.steps;
            sampler = r.sampler;
            schedule = r.schedule;
            guidanceScale = r.guidanceScale;
            guidanceRescale = r.guidanceRescale;
            seed = r.seed;
            batchSize = r.batchSize;
            classLabel = r.classLabel;
            controlnets = r.controlnets;
            preview = r.preview;
            init = r.init;
            variation = r.variation;
            loras = r.loras;
            inpaint = r.inpaint;
            hires = r.hires;
            clipSkip = r.clipSkip;
            promptSyntax = r.promptSyntax;
            aesthetics = r.aesthetics;
            trueCfgScale = r.trueCfgScale;
            discardPenultimateSigma = r.discardPenultimateSigma;
            vaeTiling = r.vaeTiling;
        }
    }

    /**
     * Inpainting: repaint where {@code mask} is white, keep where it is black (the init image's pixels). As diffusers'
     * {@code StableDiffusionInpaintPipeline}: the mask is made grey, resized to the request's size, binarized at 0.5
     * and taken to latent size by nearest-neighbour; 9-channel inpainting UNets read it with the masked image's
     * latents, other models re-noise the known region to each step's level and blend it back.
     *
     * @param mask the mask image (the init image's size; white = repaint)
     * @param blur AUTOMATIC1111's {@code mask_blur}: a Gaussian blur of the mask, standard deviation in pixels, before
     *     it is binarized for the model and as the soft edge of the paste-back (0 = none, diffusers' behaviour)
     * @param onlyMasked AUTOMATIC1111's {@code inpaint_full_res}: repaint only a crop around the mask, scaled to the
     *     request's size, and paste it back into the init image (the result has the init image's size)
     * @param padding {@code inpaint_full_res_padding}: pixels added around the mask's bounding box for the crop
     * @param pasteBack paste the init image's pixels back over the kept region (AUTOMATIC1111's overlay) through the
     *     blurred mask; off = diffusers' output as it is
     */
    public record Inpaint(BufferedImage mask, int blur, boolean onlyMasked, int padding, boolean pasteBack) {

        public Inpaint {
            Objects.requireNonNull(mask, "mask");
        }

        /** diffusers' inpainting: no blur, whole image, no paste-back. */
        public static Inpaint of(BufferedImage mask) {
            return new Inpaint(mask, 0, false, 32, false);
        }
    }

    /**
     * AUTOMATIC1111's hires fix: generate at the request's size, upscale to {@code width x height}, and run an
     * image-to-image pass of {@code steps} steps (0 = the request's steps) at denoising {@code strength}.
     *
     * @param upscaler {@link HiresFix#UPSCALERS}: "latent" (bilinear in latent space, A1111's "Latent"),
     *     "latent-nearest", or "bicubic" (on the decoded image, then encoded again with the posterior mean)
     * @param scale the upscale factor A1111 records ({@code Hires upscale}); informational when width/height are given
     */
    public record Hires(int width, int height, double scale, int steps, double strength, String upscaler) {
    }
}
