package dev.jdiffuse.models.pipeline.sd;

import dev.jdiffuse.models.nn.HostCopies;
import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.lora.LoraTargets;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.pipeline.ControlSpec;
import dev.jdiffuse.models.pipeline.ExtraInputChannels;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.Images;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.models.pipeline.LatentSpace;
import dev.jdiffuse.models.pipeline.ModelFamily;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PromptEmbeddingCache;
import dev.jdiffuse.models.textinv.EmbeddingSet;
import dev.jdiffuse.models.textinv.TextualInversionException;
import dev.jdiffuse.models.unet.ControlNetModel;
import dev.jdiffuse.models.unet.LdmUnetKeys;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.models.nn.InferenceThreads;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.AlignYourSteps;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Stable Diffusion 1.x, 2.x and XL, as diffusers' {@code StableDiffusionPipeline}, {@code StableDiffusionXLPipeline}
 * and their ControlNet variants, and the SDXL refiner ({@code StableDiffusionXLImg2ImgPipeline} with
 * {@code requires_aesthetics_score}: the second text encoder alone, aesthetic-score time ids; image-to-image as every
 * model here, text-to-image too, as diffusers allows): CLIP prompt encoding ({@link SdPromptEncoder}; SDXL's time ids,
 * {@link SdxlTimeIds}), the UNet under
 * the scheduler's prediction type, ControlNets between their start and end, and classifier-free guidance.
 * Loading: {@link SdLoader}.
 *
 * <p>The negative prompt is always encoded, the empty one included. diffusers' SDXL zeroes the unconditional
 * embeddings ({@code force_zeros_for_empty_prompt}) only when {@code negative_prompt is None}; {@code ""} is encoded
 * like any text. A {@link GenerationRequest}'s negative prompt is never absent (null becomes {@code ""}), so it is
 * always the text case.
 */
public final class StableDiffusionFamily implements ModelFamily<SdConditioning> {

    /** diffusers pipeline classes served by this family. */
    public static final Set<String> PIPELINE_CLASSES = Set.of("StableDiffusionPipeline",
            "StableDiffusionXLPipeline", "StableDiffusionControlNetPipeline", "StableDiffusionXLControlNetPipeline",
            "StableDiffusionInpaintPipeline", "StableDiffusionXLInpaintPipeline", "StableDiffusionImg2ImgPipeline",
            "StableDiffusionXLImg2ImgPipeline");

    private final SdPromptEncoder prompts;
    private final UNet2DConditionModel unet;
    private final Map<String, ControlNetModel> controlnets;
    private final Device device;
    private final LatentSpace latents;
    private final StepBatcher batcher;
    /** SDXL's micro-conditioning layout (base or refiner, from the UNet's add_embedding width); null for SD 1.x/2.x. */
    private final SdxlTimeIds timeIds;
    private volatile java.util.function.Supplier<EmbeddingSet> embeddings = () -> EmbeddingSet.EMPTY;

    StableDiffusionFamily(SdPromptEncoder prompts, UNet2DConditionModel unet, Map<String, ControlNetModel> controlnets,
            Device device, int pixelsPerLatent, int latentChannels) {
        this.prompts = prompts;
        this.unet = unet;
        this.controlnets = Map.copyOf(controlnets);
        this.device = device;
        this.latents = new LatentSpace(latentChannels, pixelsPerLatent, pixelsPerLatent, 0);
        this.batcher = new StepBatcher(new UNetNetwork(unet), InferenceThreads::prepare);
        this.timeIds = prompts.isSdxl() ? SdxlTimeIds.of(unet.config(), prompts.pooledWidth()) : null;
    }

    /** The prompt encoder (and its cache of recent encodings). */
    SdPromptEncoder prompts() {
        return prompts;
    }

    @Override
    public String id() {
        if (prompts.isSdxl()) {
            return timeIds == SdxlTimeIds.REFINER ? "sdxl_refiner" : "sdxl";
        }
        return unet.config().crossAttentionDim().get(0) >= 1024 ? "sd2" : "sd1";
    }

    /** SDXL's published levels for SDXL (base and refiner), SD 1.5's for SD 1.x and 2.x (as A1111 chooses). */
    @Override
    public double[] alignYourSteps() {
        return prompts.isSdxl() ? AlignYourSteps.sdxl() : AlignYourSteps.sd15();
    }

    @Override
    public LatentSpace latents() {
        return latents;
    }

    /** 512 (SD1), 768 (SD2), 1024 (SDXL) or the UNet's {@code sample_size} if smaller; 25 steps at 7.5, XL 30 at 5. */
    @Override
    public PipelineDefaults defaults(String defaultSampler) {
        boolean xl = prompts.isSdxl();
        int size = latents.side(xl ? 1024 : id().equals("sd2") ? 768 : 512, unet.config().sampleSize());
        return new PipelineDefaults(defaultSampler, "default", xl ? 30 : 25, size, size, xl ? 5.0 : 7.5);
    }

    @Override
    public List<String> controlnets() {
        return List.copyOf(controlnets.keySet());
    }

    /**
     * Where the textual-inversion embeddings prompts may use come from (the server's embeddings folder); read once
     * per request, so a request keeps one set. None until set.
     */
    @Override
    public void useEmbeddings(java.util.function.Supplier<EmbeddingSet> source) {
        this.embeddings = java.util.Objects.requireNonNull(source, "source");
    }

    /** The embeddings prompts may use now. */
    public EmbeddingSet embeddings() {
        EmbeddingSet set = embeddings.get();
        return set == null ? EmbeddingSet.EMPTY : set;
    }

    @Override
    public List<FieldError> check(GenerationRequest r) {
        List<FieldError> errors = new ArrayList<>();
        EmbeddingSet set = embeddings();
        checkEmbeddings(errors, "prompt", r.prompt(), r, set);
        if (ModelFamily.guided(r)) {
            checkEmbeddings(errors, "negative_prompt", r.negativePrompt(), r, set);
        }
        if (r.clipSkip() > prompts.maxClipSkip()) {
            errors.add(FieldError.invalid("clip_skip", "clip_skip must be 1.." + prompts.maxClipSkip()
                    + " for this model (its text encoder's layers), got " + r.clipSkip()));
        }
        for (int i = 0; i < r.controlnets().size(); i++) {
            String model = r.controlnets().get(i).model();
            if (!controlnets.containsKey(model)) {
                errors.add(new FieldError("controlnets[" + i + "].model", "unknown_controlnet", "unknown ControlNet '"
                        + model + "'; this model has " + controlnets.keySet()));
            }
        }
        return errors;
    }

    /** The embeddings the prompt (and, when guided, the negative prompt) use, each once, in order. */
    @Override
    public List<dev.jdiffuse.models.textinv.TextualInversion> embeddingsUsed(GenerationRequest r) {
        EmbeddingSet set = embeddings();
        java.util.LinkedHashSet<dev.jdiffuse.models.textinv.TextualInversion> used = new java.util.LinkedHashSet<>();
        used.addAll(prompts.embeddingsUsed(r.prompt(), r.promptSyntax(), set));
        if (ModelFamily.guided(r)) {
            used.addAll(prompts.embeddingsUsed(r.negativePrompt(), r.promptSyntax(), set));
        }
        return List.copyOf(used);
    }

    private void checkEmbeddings(List<FieldError> errors, String field, String prompt, GenerationRequest r,
            EmbeddingSet set) {
        try {
            prompts.checkEmbeddings(prompt, r.promptSyntax(), set);
        } catch (TextualInversionException e) {
            errors.add(new FieldError(field, "embedding_does_not_fit", e.getMessage()));
        }
    }

    @Override
    public Prompts<SdConditioning> encode(NDManager job, GenerationRequest r) {
        int batch = r.batchSize();
        EmbeddingSet set = embeddings();
        SdPromptEncoder.Encoded pos = encode(job, "prompt", r.prompt(), r, set);
        NDArray ids = timeIds == null ? null : timeIds.ids(job, device, r, false);
        SdConditioning uncond = null;
        if (ModelFamily.guided(r)) {
            SdPromptEncoder.Encoded neg = encode(job, "negative_prompt", r.negativePrompt(), r, set);
            // both halves of guidance batch together: the shorter is padded with empty chunks, as A1111 does
            int chunks = Math.max(pos.chunks(), neg.chunks());
            pos = prompts.padTo(job, pos, chunks, batch, r.clipSkip(), r.promptSyntax());
            neg = prompts.padTo(job, neg, chunks, batch, r.clipSkip(), r.promptSyntax());
            // the refiner's unconditional half has its own (negative) aesthetic score; the base's ids are shared
            NDArray negIds = timeIds == SdxlTimeIds.REFINER ? timeIds.ids(job, device, r, true) : ids;
            uncond = new SdConditioning(neg.context(), neg.pooled(), negIds);
        }
        return new Prompts<>(new SdConditioning(pos.context(), pos.pooled(), ids), uncond);
    }

    private SdPromptEncoder.Encoded encode(NDManager job, String field, String prompt, GenerationRequest r,
            EmbeddingSet set) {
        try {
            return prompts.encode(job, prompt, r.batchSize(), r.clipSkip(), r.promptSyntax(), set);
        } catch (TextualInversionException e) {
            throw new InvalidRequestException(new FieldError(field, "embedding_does_not_fit", e.getMessage()));
        }
    }

    /** Beyond the VAE's latent channels: 5 for an inpainting UNet (mask, masked-image latents), else 0. */
    @Override
    public int imageConditioningChannels() {
        return unet.config().inChannels() - latents.channels();
    }

    @Override
    public Denoiser denoiser(NDManager job, GenerationRequest r, Prompts<SdConditioning> p, SchedulerConfig config) {
        return denoiser(job, r, p, config, null);
    }

    /**
     * The UNet (with {@code imageConditioning} concatenated to its scaled input, for inpainting UNets) under the
     * config's prediction type (EDM's preconditioning for an EDM scheduler), each ControlNet as a decorator, then
     * guidance.
     */
    @Override
    public Denoiser denoiser(NDManager job, GenerationRequest r, Prompts<SdConditioning> p, SchedulerConfig config,
            NDArray imageConditioning) {
        Denoiser denoiser = PredictionType.adapt(config,
                imageConditioning == null ? batcher
                        // an inpainting UNet's per-request extra channels: this request's forward runs alone
                        : ExtraInputChannels.concat(new UNetNetwork(unet), imageConditioning));
        // the ControlNet sees the UNet's scaled input: 1/sqrt(s^2 + 1), or EDM's c_in = 1/sqrt(s^2 + sigma_data^2)
        double inputVariance = config.schedulerClass() == SchedulerClass.EDM_EULER
                ? config.sigmaData() * config.sigmaData() : 1;
        for (ControlSpec spec : r.controlnets()) {
            NDArray image = HostCopies.onDevice(job, device,
                    m -> Images.fromBufferedImage(m, spec.image(), r.width(), r.height()));
            denoiser = new ControlNetDenoiser(denoiser, controlnets.get(spec.model()), image, spec.scale(),
                    spec.start(), spec.end(), (x, sigma) -> mul(x, (float) (1 / Math.sqrt(sigma * sigma + inputVariance))));
        }
        return ModelFamily.withGuidance(denoiser, p, r);
    }

    /** The UNet's calls, shared between concurrent requests that joined it (one per model). */
    @Override
    public StepBatcher stepBatcher() {
        return batcher;
    }

    /** The UNet and the text encoders; kohya's LDM-style UNet names through the UNet's LDM key table. */
    @Override
    public LoraTargets loraTargets() {
        Map<String, Module> parts = new HashMap<>(prompts.encoders());
        parts.put("unet", unet);
        return new LoraTargets(parts, LdmUnetKeys.table(unet.config()));
    }

    @Override
    public PromptEmbeddingCache<?> promptCache() {
        return prompts.cache();
    }

    @Override
    public LatentPreview preview() {
        return latents.channels() != 4 ? null : prompts.isSdxl() ? LatentPreview.SDXL : LatentPreview.SD1;
    }
}
