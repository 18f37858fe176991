package dev.jdiffuse.models.pipeline;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.prompt.VariationNoise;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.LatentDistribution;
import dev.jdiffuse.models.vae.AutoencoderTiny;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.util.ArrayList;
import java.util.List;

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
 * <li>VAE decoding to [0, 1], refusing NaN or infinite values; 8-bit images and the timings.</li>
 * </ol>
 * A family supplies only what differs ({@link ModelFamily}); a new workflow (img2img) is written here once.
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

    /**
     * @param weights the manager holding every module of {@code family} and {@code vae}; closed by {@link #close}
     * @param taesd an optional tiny autoencoder for previews in this latent space, or null
     */
    public DiffusionPipeline(String name, NDManager weights, ModelFamily<?> family, AutoencoderKL vae,
            SchedulerSelection scheduler, AutoencoderTiny taesd) {
        this(name, weights, true, family, vae, scheduler, taesd);
    }

    private DiffusionPipeline(String name, NDManager weights, boolean ownsWeights, ModelFamily<?> family,
            AutoencoderKL vae, SchedulerSelection scheduler, AutoencoderTiny taesd) {
        this.name = name;
        this.weights = weights;
        this.ownsWeights = ownsWeights;
        this.family = family;
        this.vae = vae;
        this.scheduler = scheduler;
        this.taesd = taesd;
        this.previews = new PreviewRenderer(family.preview(), taesd);
    }

    /**
     * The same loaded model with another scheduler config (diffusers' {@code pipe.scheduler = ...}); shares the
     * weights, which stay owned by this pipeline.
     */
    public DiffusionPipeline withScheduler(SchedulerSelection other) {
        return new DiffusionPipeline(name, weights, false, family, vae, other, taesd);
    }

    /** The same weights under another configuration of the family (e.g. SD3's T5 length); owned by this pipeline. */
    public DiffusionPipeline withFamily(ModelFamily<?> other) {
        return new DiffusionPipeline(name, weights, false, other, vae, scheduler, taesd);
    }

    /** The architecture behind this pipeline. */
    public ModelFamily<?> architecture() {
        return family;
    }

    @Override
    public dev.jdiffuse.samplers.batching.StepBatcher stepBatcher() {
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

    /** The model's samplers and schedules, as {@link SchedulerSelection} refuses them. */
    private List<FieldError> checkSamplerAndSchedule(GenerationRequest r) {
        return scheduler.check(r.sampler(), r.schedule());
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

    private SchedulerSelection.Resolved resolve(GenerationRequest r) {
        return scheduler.resolve(r.sampler(), r.schedule(), r.steps(), family.mu(r, scheduler.base()));
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
        try (NDManager job = weights.newSubManager()) {
            Outcome o = render(request, job, listener);
            return new GenerationResult(Images.toBufferedImages(o.image()), request.seed(),
                    o.resolved().samplerName(), o.resolved().scheduleName(), o.resolved().schedule().sigmas(),
                    o.encodeMillis(), o.denoiseMillis(), o.decodeMillis());
        } catch (EngineException e) {
            throw new GenerationException(GenerationException.Kind.FAILED, "the engine failed: " + e.getMessage(), e);
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
        requireValid(request);
        TorchCpuNoise noise = new TorchCpuNoise(request.seed());
        NDArray clean = request.init() == null ? null : encodeInit(job, request, noise);
        NDArray initial = noise.normal(job, shape(request));
        GenerationRequest.Variation v = request.variation();
        if (v != null && v.strength() > 0) {
            // a separate stream for the subseed, so the seed's stream (ancestral samplers draw on) is unchanged
            initial = VariationNoise.slerp(v.strength(), initial, new TorchCpuNoise(v.subseed()).normal(job,
                    shape(request)));
        }
        return runChecked(request, job, initial, clean, noise, listener);
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
        return runChecked(r, job, initialNoise, null, noise, listener);
    }

    /**
     * @param clean for image-to-image the init image's latents [B, C, h, w] (diffusion-model space), else null
     */
    private Outcome runChecked(GenerationRequest r, NDManager job, NDArray initialNoise, NDArray clean,
            NoiseSource noise, GenerationListener listener) {
        SchedulerSelection.Resolved resolved = resolve(r);
        long t0 = System.nanoTime();
        Conditioned model = conditioned(family, job, r, resolved);
        long t1 = System.nanoTime();
        NDArray unit = initialNoise.toDevice(weights.getDevice(), false);
        NDArray x;
        if (clean == null) {
            x = unit.mul((float) resolved.schedule().initNoiseSigma());
        } else {
            resolved = startingAt(resolved, r.steps() - r.stepsRun());
            x = noised(clean, unit, resolved.schedule().sigma(0));
        }
        NDArray latents = denoise(model.denoiser(), model.conditioning(), x, resolved, noise, listener, r.preview());
        long t2 = System.nanoTime();
        NDArray image = decode(latents);
        long t3 = System.nanoTime();
        return new Outcome(image, resolved, (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000);
    }

    /** The same sampler on the schedule's tail from step {@code start} (image-to-image). */
    private static SchedulerSelection.Resolved startingAt(SchedulerSelection.Resolved r, int start) {
        return new SchedulerSelection.Resolved(r.samplerName(), r.scheduleName(), r.config(), r.sampler(),
                r.schedule().from(start));
    }

    /**
     * Clean latents noised to {@code sigma}, in the sampler's state: {@code x0 + sigma eps} for diffusion models
     * (diffusers' {@code add_noise}, which is {@code sqrt(abar) x0 + sqrt(1 - abar) eps} in the variance-preserving
     * form), {@code (1 - sigma) x0 + sigma eps} for flow models ({@code scale_noise}).
     */
    private NDArray noised(NDArray clean, NDArray eps, double sigma) {
        NDArray scaledNoise = eps.mul((float) sigma);
        return scheduler.isFlow() ? clean.mul((float) (1 - sigma)).add(scaledNoise) : clean.add(scaledNoise);
    }

    /**
     * The init image as diffusion-model latents [B, C, h, w]: resized to the request's size, mapped to [-1, 1],
     * encoded, sampled from the VAE posterior with the request's noise stream (diffusers' {@code retrieve_latents}
     * in sample mode: {@code mean + std eps}, one draw for the image), scaled into the model's space and repeated to
     * the batch.
     */
    private NDArray encodeInit(NDManager job, GenerationRequest r, NoiseSource noise) {
        NDArray pixels = Images.fromBufferedImage(job, r.init().image(), r.width(), r.height()).mul(2f).sub(1f)
                .toDevice(weights.getDevice(), false);
        LatentDistribution posterior = vae.encode(pixels);
        NDArray eps = noise.normal(job, posterior.mean().getShape()).toDevice(weights.getDevice(), false);
        NDArray latents = vae.scaleLatents(posterior.sample(eps)).toType(DataType.FLOAT32, false);
        return r.batchSize() == 1 ? latents : latents.repeat(0, r.batchSize());
    }

    /** A denoiser and the conditioning it is called with. */
    private record Conditioned(Denoiser denoiser, Conditioning conditioning) {
    }

    private static <C extends Conditioning> Conditioned conditioned(ModelFamily<C> family, NDManager job,
            GenerationRequest r, SchedulerSelection.Resolved resolved) {
        ModelFamily.Prompts<C> prompts = family.encode(job, r);
        return new Conditioned(family.denoiser(job, r, prompts, resolved.config()), prompts.positive());
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
        NDArray out = resolved.sampler().sample(denoiser, x, schedule, conditioning, noise, steps);
        double last = schedule.sigma(schedule.steps());
        if (!scheduler.isFlow() && last != 0) {
            out = out.div((float) Math.sqrt(1 + last * last));
        }
        requireFinite(out, "the sampler produced NaN or infinite latents (numerical overflow: try another sampler, "
                + "less guidance, or float32)");
        return out;
    }

    /** Latents to the image [B, 3, H, W] in [0, 1]. */
    private NDArray decode(NDArray latents) {
        NDArray image = vae.latentsToImage(latents);
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
