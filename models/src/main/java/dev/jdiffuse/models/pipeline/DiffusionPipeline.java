package dev.jdiffuse.models.pipeline;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.lora.LoraException;
import dev.jdiffuse.models.lora.LoraPatcher;
import dev.jdiffuse.models.lora.LoraSpec;
import dev.jdiffuse.models.nn.HostCopies;
import dev.jdiffuse.models.nn.InferenceThreads;
import dev.jdiffuse.models.prompt.VariationNoise;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.LatentDistribution;
import dev.jdiffuse.models.vae.AutoencoderTiny;
import dev.jdiffuse.models.textinv.EmbeddingSet;
import dev.jdiffuse.models.textinv.TextualInversion;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.samplers.batching.RowGatherer;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;
import dev.jdiffuse.schedulers.PenultimateSigma;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;
import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;
import static dev.jdiffuse.samplers.nd.ScalarOps.sub;

/**
 * How a generation runs, for every model family:
 * <ol>
 * <li>{@link #check}: the request against this model (sampler, schedule, size, the family's own fields); a refused
 * request throws {@link InvalidRequestException} before any tensor exists;</li>
 * <li>a job manager under the weights' manager (closed however the run ends, so nothing outlives a request);</li>
 * <li>the request's seed as torch's CPU noise stream: the initial latents [B, C, H/f, W/f] are drawn first, then the
 * sampler's own draws, as diffusers does with a CPU generator;</li>
 * <li>the sampler and schedule resolved from the model's scheduler config (dynamic-shift {@code mu} from the family);
 * </li>
 * <li>the family encodes the prompt and builds the denoiser (prediction adapter, ControlNets, guidance);</li>
 * <li>{@link #denoise}: the sampling loop from noisy latents to clean ones, with step events and previews;</li>
 * <li>VAE decoding to [0, 1], refusing NaN or infinite values (jobs of one batcher that finish together decode in
 * one VAE call, each checked on its own rows); 8-bit images and the timings.</li>
 * </ol>
 * The request's LoRAs are merged into the weights for the whole run ({@link LoraPatcher}: re-patched only when the
 * set changes, the base restored exactly), so the prompt encoding and the denoiser both see them.
 * A family supplies only what differs ({@link ModelFamily}); a new workflow is written here once, for every family:
 * image-to-image (the init image's posterior sample drawn first, the schedule entered at
 * {@code steps - floor(steps x strength)}), inpainting (a 9-channel inpainting network reads the mask and the masked
 * image's latents through {@link ModelFamily#imageConditioningChannels()}; other models have the known region blended
 * back after each step by {@link KnownRegionBlend}; "only masked" and paste-back around the run by
 * {@link InpaintComposite}), outpainting ({@link Outpaint}, a pre-processing step) and AUTOMATIC1111's hires fix
 * ({@link HiresFix}: a base pass, an upscale, an image-to-image pass).
 *
 * <p>Memory: the weights live in one manager for the pipeline's life; {@link #generate} opens a job manager under it
 * and the samplers a sub-manager per step.
 */
public final class DiffusionPipeline implements ImagePipeline {

    private final String name;
    private final NDManager weights;
    private final boolean ownsWeights;
    private final ModelFamily<?> family;
    private final AutoencoderKL vae;
    private final SchedulerSelection scheduler;
    private final AutoencoderTiny taesd;
    private final PreviewRenderer previews;
    private final LoraPatcher loras;
    private final VaeCalls vaeCalls;
    /** Tests only: applied to each job's final latents before decoding (e.g. to make one job's pixels NaN). */
    volatile UnaryOperator<NDArray> latentsBeforeDecode = UnaryOperator.identity();

    /**
     * @param weights the manager holding every module of {@code family} and {@code vae}; closed by {@link #close}
     * @param taesd an optional tiny autoencoder for previews in this latent space, or null
     */
    public DiffusionPipeline(String name, NDManager weights, ModelFamily<?> family, AutoencoderKL vae,
            SchedulerSelection scheduler, AutoencoderTiny taesd) {
        this(name, weights, true, family, vae, scheduler, taesd, new LoraPatcher(weights, family::loraTargets));
    }

    /** @param loras shared by every pipeline over the same weights, so they agree on what is applied */
    private DiffusionPipeline(String name, NDManager weights, boolean ownsWeights, ModelFamily<?> family,
            AutoencoderKL vae, SchedulerSelection scheduler, AutoencoderTiny taesd, LoraPatcher loras) {
        this.name = name;
        this.weights = weights;
        this.ownsWeights = ownsWeights;
        this.family = family;
        this.vae = vae;
        this.scheduler = scheduler.withAlignYourSteps(family.alignYourSteps());
        this.taesd = taesd;
        this.previews = new PreviewRenderer(family.preview(), taesd);
        this.loras = loras;
        this.vaeCalls = new VaeCalls(vae);
    }

    /**
     * The same loaded model with another scheduler config (diffusers' {@code pipe.scheduler = ...}); shares the
     * weights, which stay owned by this pipeline.
     */
    public DiffusionPipeline withScheduler(SchedulerSelection other) {
        return new DiffusionPipeline(name, weights, false, family, vae, other, taesd, loras);
    }

    /** The same weights under another configuration of the family (e.g. SD3's T5 length); owned by this pipeline. */
    public DiffusionPipeline withFamily(ModelFamily<?> other) {
        return new DiffusionPipeline(name, weights, false, other, vae, scheduler, taesd, loras);
    }

    @Override
    public void useEmbeddings(Supplier<EmbeddingSet> source) {
        family.useEmbeddings(source);
    }

    @Override
    public List<TextualInversion> embeddingsUsed(GenerationRequest request) {
        return family.embeddingsUsed(request);
    }

    /** The architecture behind this pipeline. */
    public ModelFamily<?> architecture() {
        return family;
    }

    @Override
    public StepBatcher stepBatcher() {
        return family.stepBatcher();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String family() {
        return family.id();
    }

    @Override
    public PipelineDefaults defaults() {
        return family.defaults(scheduler.defaultSampler());
    }

    @Override
    public List<String> controlnets() {
        return family.controlnets();
    }

    @Override
    public List<String> samplers() {
        return scheduler.samplers();
    }

    @Override
    public int pixelsPerLatent() {
        return family.latents().pixelsPerLatent();
    }

    @Override
    public int sizeMultiple() {
        return family.latents().multiple();
    }

    @Override
    public List<FieldError> check(GenerationRequest r) {
        if (r.steps() < 1 || r.batchSize() < 1) {
            // the server's parsing refuses these; a schedule cannot even be computed without steps
            return List.of(FieldError.invalid(r.steps() < 1 ? "steps" : "batch_size", "must be at least 1"));
        }
        List<FieldError> errors = new ArrayList<>(checkSamplerAndSchedule(r));
        LatentSpace space = family.latents();
        checkSide(errors, "width", r.width(), space);
        checkSide(errors, "height", r.height(), space);
        errors.addAll(family.check(r));
        if (r.trueCfgScale() != 1 && !family.takesTrueCfgScale()) {
            errors.add(FieldError.invalid("true_cfg_scale", "true_cfg_scale applies to guidance-distilled models "
                    + "(FLUX); this " + family.id() + " model guides with guidance_scale"));
        }
        checkLoras(errors, r);
        if (r.variation() != null && !(r.variation().strength() >= 0 && r.variation().strength() <= 1)) {
            errors.add(FieldError.invalid("subseed_strength", "subseed_strength must be in [0, 1], got "
                    + r.variation().strength()));
        }
        if (r.init() != null) {
            double strength = r.init().strength();
            if (!(strength > 0 && strength <= 1)) {
                errors.add(FieldError.invalid("strength", "strength must be in (0, 1], got " + strength));
            } else if (r.stepsRun() < 1) {
                errors.add(FieldError.invalid("strength", "strength " + strength + " of " + r.steps()
                        + " steps runs no step: floor(steps x strength) must be at least 1"));
            }
        }
        errors.addAll(checkWorkflows(r));
        return errors;
    }


    /** Each LoRA must match this model's weights, every key of it (header names and shapes only). */
    private void checkLoras(List<FieldError> errors, GenerationRequest r) {
        for (int i = 0; i < r.loras().size(); i++) {
            List<String> problems = loras.problems(r.loras().get(i).file());
            if (!problems.isEmpty()) {
                errors.add(new FieldError("loras[" + i + "].name", "lora_mismatch", "LoRA '"
                        + r.loras().get(i).name() + "' does not fit this model: " + String.join("; ", problems)));
            }
        }
    }

    /** The LoRAs applied to the weights now (what the last run used; zero scales left out). */
    public List<LoraSpec> appliedLoras() {
        return loras.applied();
    }

    /**
     * Inpainting and hires fix: a mask needs an init image, hires applies to text-to-image (at a valid size, strength,
     * steps and upscaler); a model reading extra input channels must read exactly a mask and latents.
     */
    private List<FieldError> checkWorkflows(GenerationRequest r) {
        List<FieldError> errors = new ArrayList<>();
        if (r.inpaint() != null) {
            if (r.init() == null) {
                errors.add(FieldError.invalid("mask", "a mask applies to an init image: give init_image too"));
            }
            if (r.inpaint().blur() < 0 || r.inpaint().padding() < 0) {
                errors.add(FieldError.invalid(r.inpaint().blur() < 0 ? "mask_blur" : "inpaint_full_res_padding",
                        "must not be negative"));
            }
        }
        GenerationRequest.Hires h = r.hires();
        if (h != null) {
            if (r.init() != null) {
                errors.add(FieldError.invalid("hires", "the hires fix applies to text-to-image: drop init_image"));
            }
            checkSide(errors, "hires.width", h.width(), family.latents());
            checkSide(errors, "hires.height", h.height(), family.latents());
            if (!(h.strength() > 0 && h.strength() <= 1)) {
                errors.add(FieldError.invalid("hires.strength", "must be in (0, 1], got " + h.strength()));
            }
            if (h.steps() < 0) {
                errors.add(FieldError.invalid("hires.steps", "must be 0 (the request's steps) or more"));
            }
            if (!HiresFix.UPSCALERS.contains(h.upscaler())) {
                errors.add(FieldError.invalid("hires.upscaler", "unknown upscaler '" + h.upscaler() + "'; one of "
                        + HiresFix.UPSCALERS));
            }
        }
        int extra = family.imageConditioningChannels();
        if (extra != 0 && extra != family.latents().channels() + 1) {
            errors.add(FieldError.invalid("model", "this model's network reads " + extra + " channels beyond the "
                    + "latents; only inpainting models (mask + masked-image latents = " + (family.latents().channels()
                    + 1) + ") are supported"));
        }
        return errors;
    }

    private static void checkSide(List<FieldError> errors, String field, int pixels, LatentSpace space) {
        if (pixels < space.multiple() || pixels % space.multiple() != 0) {
            errors.add(FieldError.invalid(field, field + " must be a positive multiple of " + space.multiple()
                    + " for this model, got " + pixels));
        } else if (space.maxSide() > 0 && pixels > space.maxSide()) {
            errors.add(FieldError.invalid(field, "this model's position grid allows at most " + space.maxSide()
                    + " pixels a side, got " + pixels));
        }
    }

    /**
     * The model's samplers and schedules, as {@link SchedulerSelection} refuses them, for the request's schedule and,
     * with the hires fix, the second pass's longer one (a schedule that cannot space it names {@code hires.steps});
     * with {@code discard_penultimate_sigma} for the one step more each is computed for.
     */
    private List<FieldError> checkSamplerAndSchedule(GenerationRequest r) {
        List<FieldError> errors = new ArrayList<>(scheduler.check(r.sampler(), r.schedule(), r.scheduleSteps()));
        GenerationRequest.Hires h = r.hires();
        if (errors.isEmpty() && h != null && h.strength() > 0) {
            int steps = h.steps() > 0 ? h.steps() : r.steps();
            int n = HiresFix.scheduleSteps(steps, h.strength(), scheduler.base().numTrainTimesteps());
            for (FieldError e : scheduler.check(r.sampler(), r.schedule(), r.withSteps(n).scheduleSteps())) {
                errors.add(e.field().equals("steps") ? FieldError.invalid("hires.steps", "the hires pass runs a "
                        + "schedule of " + n + " steps: " + e.message()) : e);
            }
        }
        return errors;
    }

    private void requireValid(GenerationRequest r) {
        List<FieldError> errors = check(r);
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
    }

    @Override
    public SamplingSchedule schedule(GenerationRequest request) {
        requireValid(request);
        return resolve(request).schedule();
    }

    /**
     * The request's sampler and the levels it visits: the schedule of {@code steps} steps, or with
     * {@code discardPenultimateSigma} that of {@code steps + 1} without its next-to-last level (ComfyUI's
     * {@code KSampler.calculate_sigmas}, A1111's {@code get_sigmas}); image-to-image then enters the dropped schedule
     * ({@link #startingAt}), as both UIs slice their dropped levels.
     */
    private SchedulerSelection.Resolved resolve(GenerationRequest r) {
        int n = r.scheduleSteps();
        SchedulerSelection.Resolved s = scheduler.resolve(r.sampler(), r.schedule(), n, family.mu(r, scheduler.base()),
                family.flowSigmas(n));
        if (!r.discardPenultimateSigma()) {
            return s;
        }
        return new SchedulerSelection.Resolved(s.samplerName(), s.scheduleName(), s.config(), s.sampler(),
                PenultimateSigma.discard(s.schedule()));
    }

    /** [B, C, H/f, W/f] for a valid request. */
    public Shape latentShape(GenerationRequest r) {
        requireValid(r);
        return shape(r);
    }

    private Shape shape(GenerationRequest r) {
        LatentSpace s = family.latents();
        int f = s.pixelsPerLatent();
        return new Shape(r.batchSize(), s.channels(), r.height() / f, r.width() / f);
    }

    @Override
    public GenerationResult generate(GenerationRequest request, GenerationListener listener) {
        InferenceThreads.prepare();
        try (NDManager job = weights.newSubManager()) {
            requireValid(request);
            PhaseTrace.mark("validate");
            Outcome o = render(InpaintComposite.modelRequest(request), job, listener);
            List<BufferedImage> images = InpaintComposite.finish(request, Images.toBufferedImages(o.image()));
            PhaseTrace.mark("to_host");
            return new GenerationResult(images, request.seed(),
                    o.resolved().samplerName(), o.resolved().scheduleName(), o.resolved().schedule().sigmas(),
                    o.encodeMillis(), o.denoiseMillis(), o.decodeMillis());
        } catch (EngineException e) {
            throw EngineFailures.classify(e); // out of device memory, a broken device, or another failure
        } catch (OutOfMemoryError e) {
            throw new GenerationException(GenerationException.Kind.OUT_OF_MEMORY, "out of host memory", e);
        }
    }

    /**
     * The seeded run as {@link #generate} makes it, with the image left as float32 in {@code job}: the request's
     * seed as torch's CPU stream, drawn in diffusers' order (for image-to-image the VAE posterior sample of the init
     * image first, then the initial noise, then the sampler's draws).
     */
    public Outcome render(GenerationRequest request, NDManager job, GenerationListener listener) {
        InferenceThreads.prepare();
        requireValid(request);
        try (LoraPatcher.Lease lease = loraLease(request)) {
            if (request.hires() != null) {
                return renderHires(request, job, listener);
            }
            PhaseTrace.mark("loras");
            TorchCpuNoise noise = new TorchCpuNoise(request.seed());
            Start start = start(request, job, noise);
            PhaseTrace.mark("noise", start.noise());
            return decoded(sample(request, job, start, noise, listener), request.vaeTiling());
        }
    }

    /**
     * What the sampling starts from, drawn from the request's stream in diffusers' order: the init image's posterior
     * sample (image-to-image; for inpainting unless a 9-channel model starts from pure noise at strength 1), the
     * initial noise, then for inpainting the masked image's posterior sample (diffusers draws it for 4-channel
     * models too, though they do not read it).
     */
    private Start start(GenerationRequest r, NDManager job, NoiseSource noise) {
        GenerationRequest.Inpaint inpaint = r.inpaint();
        int extra = family.imageConditioningChannels();
        boolean pure = inpaint != null && r.init().strength() == 1.0;
        int skip = r.steps() - r.stepsRun();
        NDArray pixels = r.init() == null ? null : initPixels(job, r);
        NDArray clean = pixels == null || (pure && extra > 0) ? null : encodeSampled(job, r, pixels, noise);
        NDArray initial = initialNoise(r, job, noise);
        if (inpaint == null) {
            return new Start(initial, clean, false, skip, null, extra > 0 ? unmaskedConditioning(job, r) : null);
        }
        InpaintMask mask = InpaintMask.of(inpaint.mask(), inpaint.blur(), r.width(), r.height());
        NDArray keep = add(onDevice(job, mask::pixels).neg(), 1f);
        NDArray latentMask = onDevice(job, m -> mask.latents(m, pixelsPerLatent()));
        // diffusers: masked_image = init_image * (mask < 0.5), encoded with a posterior sample
        NDArray maskedLatents = encodeSampled(job, r, pixels.mul(keep), noise);
        if (extra > 0) {
            return new Start(initial, clean, pure, skip, null, imageConditioning(latentMask, maskedLatents, r));
        }
        return new Start(initial, clean, pure, skip, latentMask, null);
    }

    /** Unit initial noise [B, C, h, w] from {@code noise}, with the request's variation seed slerped in. */
    private NDArray initialNoise(GenerationRequest r, NDManager job, NoiseSource noise) {
        NDArray initial = onDevice(job, m -> noise.normal(m, shape(r)));
        GenerationRequest.Variation v = r.variation();
        if (v != null && v.strength() > 0) {
            // a separate stream for the subseed, so the seed's stream (ancestral samplers draw on) is unchanged
            TorchCpuNoise subseed = new TorchCpuNoise(v.subseed());
            initial = VariationNoise.slerp(v.strength(), initial, onDevice(job, m -> subseed.normal(m, shape(r))));
        }
        return initial;
    }

    /**
     * AUTOMATIC1111's hires fix ({@link HiresFix}): the request without it at its base size, its latents upscaled
     * (or its image resized and encoded with the posterior mean), then an image-to-image pass at the hires size from
     * fresh noise of the seed (a new stream, as A1111 re-seeds) running {@code hires.steps} steps (0: the request's)
     * at the hires strength. Steps are reported as one run of both passes.
     */
    private Outcome renderHires(GenerationRequest r, NDManager job, GenerationListener listener) {
        GenerationRequest.Hires h = r.hires();
        GenerationRequest base = r.withHires(null);
        int steps = h.steps() > 0 ? h.steps() : r.steps();
        int total = base.stepsRun() + steps;
        TorchCpuNoise noise = new TorchCpuNoise(r.seed());
        Sampled first = sample(base, job, start(base, job, noise), noise, offset(listener, 0, total));
        int n = HiresFix.scheduleSteps(steps, h.strength(), scheduler.base().numTrainTimesteps());
        GenerationRequest second = base.withSize(h.width(), h.height()).withSteps(n);
        NDArray clean = upscaled(first.latents(), h, job, r.vaeTiling());
        TorchCpuNoise again = new TorchCpuNoise(r.seed());
        NDArray unit = initialNoise(second, job, again);
        NDArray conditioning = family.imageConditioningChannels() > 0 ? unmaskedConditioning(job, second) : null;
        Sampled hires = sample(second, job, new Start(unit, clean, false, n - steps, null, conditioning), again,
                offset(listener, base.stepsRun(), total));
        Outcome out = decoded(hires, r.vaeTiling());
        return new Outcome(out.image(), out.resolved(), first.encodeMillis() + out.encodeMillis(),
                first.denoiseMillis() + out.denoiseMillis(), out.decodeMillis());
    }

    /** {@code listener} told of one pass's steps as steps {@code offset...} of {@code total}. */
    private static GenerationListener offset(GenerationListener listener, int offset, int total) {
        return new GenerationListener() {
            @Override
            public void onStep(int step, int steps, double sigma) {
                listener.onStep(offset + step, total, sigma);
            }

            @Override
            public void onPreview(Preview preview) {
                listener.onPreview(preview);
            }
        };
    }

    /** The base latents at the hires size: interpolated, or decoded, resized and encoded (posterior mean). */
    private NDArray upscaled(NDArray latents, GenerationRequest.Hires h, NDManager job, VaeTiling tiling) {
        int f = pixelsPerLatent();
        if (HiresFix.inLatentSpace(h.upscaler())) {
            return HiresFix.upscaleLatents(latents, h.height() / f, h.width() / f, h.upscaler());
        }
        NDArray resized = HiresFix.resizeImages(job, decode(latents, tiling), h.width(), h.height());
        // the resized images are on the host: copied without waiting for the forwards other jobs queued
        return vae.scaleLatents(encodePixels(HostCopies.toDevice(sub(mul(resized, 2f), 1f), weights.getDevice()),
                tiling)
                .mean()).toType(DataType.FLOAT32, false);
    }

    /**
     * What the hires fix's second pass starts from, decoded: the request's base pass (hires ignored) with its
     * latents upscaled as {@code hires} says; a second pass at a strength near 0 returns about this image.
     */
    public Outcome hiresInput(GenerationRequest r, NDManager job) {
        requireValid(r);
        GenerationRequest base = r.withHires(null);
        TorchCpuNoise noise = new TorchCpuNoise(r.seed());
        Sampled first = sample(base, job, start(base, job, noise), noise, GenerationListener.NONE);
        return decoded(new Sampled(upscaled(first.latents(), r.hires(), job, r.vaeTiling()), first.resolved(),
                first.encodeMillis(), first.denoiseMillis()), r.vaeTiling());
    }

    /**
     * Where a run starts: the unit initial noise, the init image's latents (or null), whether to start from pure noise
     * although there is an init image (inpainting at strength 1), the schedule steps skipped (image-to-image), the
     * latent mask for the known-region blend of ordinary models (or null), and the extra network input of inpainting
     * models (or null).
     */
    private record Start(NDArray noise, NDArray clean, boolean pure, int skip, NDArray blendMask,
            NDArray imageConditioning) {
    }

    /** The inpainting model's extra input [B, 1 + C, h, w]: the latent mask then the masked image's latents. */
    private static NDArray imageConditioning(NDArray latentMask, NDArray maskedLatents, GenerationRequest r) {
        NDArray both = latentMask.toType(maskedLatents.getDataType(), false).concat(maskedLatents, 1);
        return r.batchSize() == 1 ? both : both.repeat(0, r.batchSize());
    }

    /**
     * An inpainting model's extra input without a mask (text-to-image, image-to-image), as AUTOMATIC1111 gives it:
     * everything to repaint (mask 1) over a blank image (0 in [-1, 1], encoded with the posterior mean, so no draw
     * shifts the noise stream).
     */
    private NDArray unmaskedConditioning(NDManager job, GenerationRequest r) {
        LatentSpace s = family.latents();
        int f = s.pixelsPerLatent();
        NDArray blank = job.zeros(new Shape(1, 3, r.height(), r.width())).toDevice(weights.getDevice(), false);
        NDArray latents = vae.scaleLatents(encodePixels(blank, r.vaeTiling()).mean()).toType(DataType.FLOAT32, false);
        NDArray ones = job.ones(new Shape(1, 1, r.height() / f, r.width() / f)).toDevice(weights.getDevice(), false);
        return imageConditioning(ones, latents, r);
    }

    /**
     * The image [B, 3, H, W] float32 in [0, 1] (in the job's manager), the resolved sampler and schedule, and where
     * the time went.
     */
    public record Outcome(NDArray image, SchedulerSelection.Resolved resolved, long encodeMillis, long denoiseMillis,
            long decodeMillis) {
    }

    /**
     * The whole run from given unit-normal initial latents and noise source; public for parity tests, which feed
     * diffusers' latents and recorded sampler noise.
     */
    public Outcome run(GenerationRequest r, NDManager job, NDArray initialNoise, NoiseSource noise,
            GenerationListener listener) {
        requireValid(r);
        try (LoraPatcher.Lease lease = loraLease(r)) {
            NDArray conditioning = family.imageConditioningChannels() > 0 ? unmaskedConditioning(job, r) : null;
            return decoded(sample(r, job, new Start(initialNoise, null, false, 0, null, conditioning), noise,
                    listener), r.vaeTiling());
        }
    }

    /** The request's LoRAs merged into the weights until the lease is closed (a misfit is the request's fault). */
    private LoraPatcher.Lease loraLease(GenerationRequest r) {
        try {
            return loras.use(r.loras());
        } catch (LoraException e) {
            throw new InvalidRequestException(FieldError.invalid("loras", e.getMessage()));
        }
    }

    /** Sampled latents as the VAE reads them, the resolved sampler and schedule, and the time taken so far. */
    private record Sampled(NDArray latents, SchedulerSelection.Resolved resolved, long encodeMillis,
            long denoiseMillis) {
    }

    private Sampled sample(GenerationRequest r, NDManager job, Start start, NoiseSource noise,
            GenerationListener listener) {
        SchedulerSelection.Resolved resolved = resolve(r);
        PhaseTrace.mark("schedule");
        long t0 = System.nanoTime();
        Conditioned model = conditioned(family, job, r, resolved, start.imageConditioning());
        long t1 = System.nanoTime();
        PhaseTrace.mark("encode");
        NDArray unit = start.noise().toDevice(weights.getDevice(), false);
        if (start.skip() > 0) {
            resolved = startingAt(resolved, start.skip());
        }
        NDArray x = start.clean() == null || start.pure() ? mul(unit, (float) resolved.schedule().initNoiseSigma())
                : KnownRegionBlend.noised(start.clean(), unit, resolved.schedule().sigma(0), scheduler.isFlow());
        if (start.blendMask() != null) {
            resolved = new SchedulerSelection.Resolved(resolved.samplerName(), resolved.scheduleName(),
                    resolved.config(), new KnownRegionBlend(resolved.sampler(), start.blendMask(), start.clean(),
                    unit, scheduler.isFlow()), resolved.schedule());
        }
        PhaseTrace.mark("x", x);
        NDArray latents = denoise(model.denoiser(), model.conditioning(), x, resolved, noise, listener, r.preview());
        PhaseTrace.mark("denoise", latents);
        long t2 = System.nanoTime();
        return new Sampled(latents, resolved, (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000);
    }

    private Outcome decoded(Sampled s, VaeTiling tiling) {
        long t2 = System.nanoTime();
        NDArray image = decodeGathered(latentsBeforeDecode.apply(s.latents()), tiling);
        PhaseTrace.mark("decode");
        long t3 = System.nanoTime();
        return new Outcome(image, s.resolved(), s.encodeMillis(), s.denoiseMillis(), (t3 - t2) / 1_000_000);
    }

    /** The same sampler on the schedule's tail from step {@code start} (image-to-image). */
    private static SchedulerSelection.Resolved startingAt(SchedulerSelection.Resolved r, int start) {
        return new SchedulerSelection.Resolved(r.samplerName(), r.scheduleName(), r.config(), r.sampler(),
                r.schedule().from(start));
    }

    /** The init image at the request's size, [1, 3, H, W] in [-1, 1] on the weights' device. */
    private NDArray initPixels(NDManager job, GenerationRequest r) {
        return sub(mul(onDevice(job, m -> Images.fromBufferedImage(m, r.init().image(), r.width(), r.height())), 2f),
                1f);
    }

    /**
     * Pixels [1, 3, H, W] in [-1, 1] as diffusion-model latents [B, C, h, w]: encoded, sampled from the VAE posterior
     * with the request's noise stream (diffusers' {@code retrieve_latents} in sample mode: {@code mean + std eps}, one
     * draw for the image), scaled into the model's space and repeated to the batch.
     */
    private NDArray encodeSampled(NDManager job, GenerationRequest r, NDArray pixels, NoiseSource noise) {
        LatentDistribution posterior = encodePixels(pixels, r.vaeTiling());
        NDArray eps = onDevice(job, m -> noise.normal(m, posterior.mean().getShape()));
        NDArray latents = vae.scaleLatents(posterior.sample(eps)).toType(DataType.FLOAT32, false);
        return r.batchSize() == 1 ? latents : latents.repeat(0, r.batchSize());
    }

    /** A denoiser and the conditioning it is called with. */
    private record Conditioned(Denoiser denoiser, Conditioning conditioning) {
    }

    private static <C extends Conditioning> Conditioned conditioned(ModelFamily<C> family, NDManager job,
            GenerationRequest r, SchedulerSelection.Resolved resolved, NDArray imageConditioning) {
        ModelFamily.Prompts<C> prompts = family.encode(job, r);
        Denoiser denoiser = imageConditioning == null ? family.denoiser(job, r, prompts, resolved.config())
                : family.denoiser(job, r, prompts, resolved.config(), imageConditioning);
        return new Conditioned(denoiser, prompts.positive());
    }

    /**
     * Latents in, latents out: the sampler from {@code x} at the schedule's first sigma to its last, telling
     * {@code listener} of each step and rendering previews at the request's cadence.
     *
     * @return latents as the VAE expects them: diffusion samplers keep {@code x = x0 + sigma eps}, so a non-zero final
     *     sigma (DDIM without {@code set_alpha_to_one}) is mapped back to the variance-preserving sample
     *     {@code x / sqrt(1 + sigma^2)} diffusers decodes; flow samples ({@code (1 - sigma) x0 + sigma eps}) as
     *     they are
     * @throws GenerationException of kind NON_FINITE_OUTPUT if they hold NaN or infinite values
     */
    private NDArray denoise(Denoiser denoiser, Conditioning conditioning, NDArray x,
            SchedulerSelection.Resolved resolved, NoiseSource noise, GenerationListener listener, PreviewSpec preview) {
        SamplingSchedule schedule = resolved.schedule();
        StepListener steps = (step, total, sigma, sample, denoised) -> {
            listener.onStep(step, total, sigma);
            if (preview.wants(step, total) && previews.supports(preview.method())) {
                listener.onPreview(previews.render(step, denoised, preview));
            }
        };
        NDArray out = resolved.sampler().sample(denoiser, x, schedule, conditioning, DeviceNoise.of(noise), steps);
        double last = schedule.sigma(schedule.steps());
        if (!scheduler.isFlow() && last != 0) {
            out = div(out, (float) Math.sqrt(1 + last * last));
        }
        requireFinite(out, "the sampler produced NaN or infinite latents (numerical overflow: try another sampler, "
                + "less guidance, or float32)");
        return out;
    }

    /** Latents to the image [B, 3, H, W] in [0, 1], alone (the hires fix's mid-run decoding). */
    private NDArray decode(NDArray latents, VaeTiling tiling) {
        return requireFiniteImage(whereForwardsRun(() -> vaeCalls.toImage(latents, tiling)));
    }

    /**
     * An array made from host data on the weights' device without waiting for the arrays queued there
     * ({@link HostCopies#onDevice}): a job starting while others run would otherwise wait for their forwards.
     */
    private NDArray onDevice(NDManager job, java.util.function.Function<NDManager, NDArray> make) {
        return HostCopies.onDevice(job, weights.getDevice(), make);
    }

    /** The VAE's posterior of pixels [B, 3, H, W] in [-1, 1], computed where the job's forwards run. */
    private LatentDistribution encodePixels(NDArray pixels, VaeTiling tiling) {
        return whereForwardsRun(() -> vaeCalls.encode(pixels, tiling));
    }

    /** {@code work} on the family batcher's forward thread for a job in one of its lanes ({@link StepBatcher}). */
    private <T> T whereForwardsRun(java.util.function.Supplier<T> work) {
        StepBatcher batcher = family.stepBatcher();
        return batcher == null ? work.get() : batcher.whereForwardsRun(work);
    }

    /**
     * A job's final latents [B, C, h, w] to its image [B, 3, H, W] in [0, 1]; in a lane of the family's batcher,
     * decoded in one VAE call with the latents of the jobs that finish together ({@link RowGatherer}). The finiteness
     * check is on this job's rows only, so a job whose pixels overflow fails alone. Only jobs with the same tiling
     * choice decode together; tiled ones ({@link VaeTiling.Mode#ALWAYS}, for images too large to decode whole) alone.
     */
    private NDArray decodeGathered(NDArray latents, VaeTiling tiling) {
        StepBatcher batcher = family.stepBatcher();
        NDArray image;
        if (batcher == null) {
            image = vaeCalls.toImage(latents, tiling);
        } else if (tiling.mode() == VaeTiling.Mode.ALWAYS) {
            image = batcher.whereForwardsRun(() -> vaeCalls.toImage(latents, tiling));
        } else {
            image = batcher.gatherer().apply(latents, List.of(vae, tiling), z -> vaeCalls.toImage(z, tiling));
        }
        return requireFiniteImage(image);
    }

    private static NDArray requireFiniteImage(NDArray image) {
        requireFinite(image, "the VAE produced NaN pixels (half-precision overflow: run the VAE in float32)");
        return image;
    }

    private static void requireFinite(NDArray a, String message) {
        if (a.isInfinite().logicalOr(a.isNaN()).any().getBoolean()) {
            throw new GenerationException(GenerationException.Kind.NON_FINITE_OUTPUT, message);
        }
    }

    @Override
    public void close() {
        if (ownsWeights) {
            StepBatcher batcher = family.stepBatcher();
            if (batcher != null) {
                batcher.close(); // its forward thread lives as long as the model
            }
            weights.close();
        }
    }

    /**
     * Arrays alive under this pipeline's manager (weights, cached constants, and whatever a running job holds):
     * constant between jobs when nothing leaks.
     */
    public int liveArrays() {
        return weights.getManagedArrays().size();
    }
}
