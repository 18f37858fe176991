package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PreviewRenderer;
import dev.jdiffuse.models.pipeline.SamplingRun;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.TimedImages;
import dev.jdiffuse.models.sd3.SD3Transformer2DModel;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.vae.AutoencoderTiny;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.samplers.ClassifierFreeGuidance;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.nio.file.Path;
import java.util.List;

/**
 * Text-to-image for Stable Diffusion 3 / 3.5 (Esser et al. 2024), as diffusers' {@code StableDiffusion3Pipeline}
 * without a T5 encoder: CLIP-L + CLIP-G prompt encoding (see {@link Sd3PromptEncoder}; the T5 part of the context is
 * zeros), the negative prompt encoded the same way (SD3 never zeroes it), classifier-free guidance for scales above 1,
 * the MMDiT predicting the rectified-flow velocity ({@code x0 = x - sigma v}, input unscaled, timestep
 * {@code sigma x 1000}), flow-matching Euler with the config's {@code shift} (or, with {@code use_dynamic_shifting},
 * {@code mu} from the image sequence length {@code (H/8/p)(W/8/p)} as diffusers' {@code calculate_shift}), and the
 * 16- (or 4-) channel VAE with {@code scaling_factor} and {@code shift_factor}.
 *
 * <p>The length of the zero T5 block is diffusers' {@code max_sequence_length} (default 256); it changes the image, as
 * the image tokens attend to the projected zero tokens, so {@link #withMaxSequenceLength} lets a caller match a run
 * made with another value.
 *
 * <p>Memory: the weights live in one manager for the pipeline's life; each {@link #generate} call opens a job
 * manager under it, and the samplers open a sub-manager per step.
 */
public final class StableDiffusion3Pipeline implements ImagePipeline {

    /** diffusers' default {@code max_sequence_length}. */
    public static final int DEFAULT_MAX_SEQUENCE_LENGTH = 256;

    private final String name;
    private final NDManager weights;
    private final Sd3PromptEncoder prompts;
    private final SD3Transformer2DModel transformer;
    private final AutoencoderKL vae;
    private final SchedulerSelection scheduler;
    private final AutoencoderTiny taesd;
    private final PreviewRenderer previews;
    private final int maxSequenceLength;
    private final boolean ownsWeights;

    private StableDiffusion3Pipeline(String name, NDManager weights, Sd3PromptEncoder prompts,
            SD3Transformer2DModel transformer, AutoencoderKL vae, SchedulerSelection scheduler, AutoencoderTiny taesd,
            int maxSequenceLength, boolean ownsWeights) {
        if (maxSequenceLength < 1) {
            throw new IllegalArgumentException("max sequence length must be positive: " + maxSequenceLength);
        }
        this.name = name;
        this.weights = weights;
        this.prompts = prompts;
        this.transformer = transformer;
        this.vae = vae;
        this.scheduler = scheduler;
        this.taesd = taesd;
        this.maxSequenceLength = maxSequenceLength;
        this.ownsWeights = ownsWeights;
        LatentPreview projection = transformer.config().inChannels() == 16 ? LatentPreview.SD3 : null;
        this.previews = new PreviewRenderer(projection, taesd);
    }

    /**
     * Opens a diffusers pipeline folder ({@code model_index.json}, {@code transformer/}, {@code vae/},
     * {@code text_encoder/}, {@code text_encoder_2/}, {@code tokenizer/}, {@code tokenizer_2/}, {@code scheduler/}).
     * A {@code text_encoder_3} (T5) in the folder is not loaded: its part of the context is zeros, as diffusers does
     * when the component is absent.
     *
     * @param taesd an optional tiny autoencoder for this latent space (TAESD3), or null
     */
    public static StableDiffusion3Pipeline openFolder(Path folder, String name, Device device, DataType dtype,
            AutoencoderTiny taesd) {
        NDManager weights = NDManager.newBaseManager(device);
        try {
            ClipTokenizer tok = ClipTokenizer.load(folder.resolve("tokenizer"));
            ClipTokenizer tok2 = ClipTokenizer.load(folder.resolve("tokenizer_2"));
            ClipTextModel te = ClipTextModel.load(folder.resolve("text_encoder"), weights, dtype);
            ClipTextModel te2 = ClipTextModel.load(folder.resolve("text_encoder_2"), weights, dtype);
            requireProjection(folder.resolve("text_encoder/config.json"), te);
            requireProjection(folder.resolve("text_encoder_2/config.json"), te2);
            SD3Transformer2DModel transformer = SD3Transformer2DModel.load(folder.resolve("transformer"), weights,
                    dtype);
            SD3TransformerConfig tc = transformer.config();
            Sd3PromptEncoder prompts = new Sd3PromptEncoder(tok, te, tok2, te2, tc.jointAttentionDim());
            if (prompts.pooledWidth() != tc.pooledProjectionDim()) {
                throw new ConfigException(folder.resolve("transformer/config.json").toString(),
                        "pooled_projection_dim", "is " + tc.pooledProjectionDim() + " but the two text encoders' "
                        + "projections give " + prompts.pooledWidth());
            }
            AutoencoderKLConfig vc = AutoencoderKLConfig.read(folder.resolve("vae/config.json"));
            if (vc.latentChannels() != tc.inChannels()) {
                throw new ConfigException(folder.resolve("vae/config.json").toString(), "latent_channels",
                        "is " + vc.latentChannels() + " but the transformer takes " + tc.inChannels() + " channels");
            }
            AutoencoderKL vae = AutoencoderKL.load(folder.resolve("vae"), weights, vaeType(vc, dtype));
            SchedulerSelection sched = SchedulerSelection.read(folder.resolve("scheduler/scheduler_config.json"));
            if (!sched.isFlow()) {
                throw new ConfigException(folder.resolve("scheduler/scheduler_config.json").toString(),
                        "_class_name", "SD3 is a rectified-flow model: FlowMatchEulerDiscreteScheduler expected");
            }
            return new StableDiffusion3Pipeline(name, weights, prompts, transformer, vae, sched, taesd,
                    DEFAULT_MAX_SEQUENCE_LENGTH, true);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    private static void requireProjection(Path config, ClipTextModel encoder) {
        if (!encoder.config().withProjection()) {
            throw new ConfigException(config.toString(), "architectures",
                    "SD3 needs CLIPTextModelWithProjection (its pooled text_embeds)");
        }
    }

    /** diffusers runs VAEs marked {@code force_upcast} in float32 even in half-precision pipelines. */
    private static DataType vaeType(AutoencoderKLConfig c, DataType dtype) {
        return c.forceUpcast() && dtype == DataType.FLOAT16 ? DataType.FLOAT32 : dtype;
    }

    /** The same loaded model with another scheduler config; shares the weights, which stay owned by this pipeline. */
    public StableDiffusion3Pipeline withScheduler(SchedulerSelection other) {
        return new StableDiffusion3Pipeline(name, weights, prompts, transformer, vae, other, taesd, maxSequenceLength,
                false);
    }

    /**
     * The same loaded model with another T5 context length (diffusers' {@code max_sequence_length}); shares the
     * weights, which stay owned by this pipeline.
     */
    public StableDiffusion3Pipeline withMaxSequenceLength(int length) {
        return new StableDiffusion3Pipeline(name, weights, prompts, transformer, vae, scheduler, taesd, length, false);
    }

    public int maxSequenceLength() {
        return maxSequenceLength;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String family() {
        return "sd3";
    }

    /** 1024 x 1024 (or the transformer's {@code sample_size} if smaller), 28 steps, guidance 7.0 (diffusers' defaults). */
    @Override
    public PipelineDefaults defaults() {
        int size = 1024;
        int sample = transformer.config().sampleSize() * pixelsPerLatent();
        if (sample > 0 && sample < size) {
            size = sample;
        }
        return new PipelineDefaults(scheduler.defaultSampler(), "default", 28, size, size, 7.0);
    }

    @Override
    public List<String> controlnets() {
        return List.of();
    }

    /** Samplers usable with this model (flow samplers only). */
    public List<String> samplers() {
        return scheduler.samplers();
    }

    @Override
    public int pixelsPerLatent() {
        return 1 << (vae.config().blockOutChannels().size() - 1);
    }

    @Override
    public SamplingSchedule schedule(GenerationRequest request) {
        return resolve(request).schedule();
    }

    @Override
    public GenerationResult generate(GenerationRequest request, GenerationListener listener) {
        return TimedImages.generate(weights, request, latentShape(request),
                (job, initial, noise) -> run(request, job, initial, noise, listener));
    }

    /**
     * [B, C, H/8, W/8] for the request; H and W must be multiples of 8 x patch size, and the latent at most
     * {@code pos_embed_max_size} patches a side.
     */
    public Shape latentShape(GenerationRequest r) {
        int f = pixelsPerLatent();
        SD3TransformerConfig c = transformer.config();
        int multiple = f * c.patchSize();
        if (r.width() % multiple != 0 || r.height() % multiple != 0) {
            throw new GenerationException(r.width() % multiple != 0 ? "width" : "height",
                    "width and height must be multiples of " + multiple);
        }
        int max = c.posEmbedMaxSize() * multiple;
        if (r.width() > max || r.height() > max) {
            throw new GenerationException(r.width() > max ? "width" : "height",
                    "this model's position grid allows at most " + max + " pixels a side");
        }
        return new Shape(r.batchSize(), c.inChannels(), r.height() / f, r.width() / f);
    }


    /**
     * The whole run from given unit-normal initial latents; the image [B, 3, H, W] float32 in [0, 1] belongs to
     * {@code job}. Public for parity tests, which feed diffusers' latents.
     */
    public TimedImages run(GenerationRequest r, NDManager job, NDArray initialNoise, NoiseSource noise,
            GenerationListener listener) {
        latentShape(r);
        SchedulerSelection.Resolved resolved = resolve(r);
        long t0 = System.nanoTime();
        boolean cfg = r.guidanceScale() > 1.0;
        Sd3PromptEncoder.Encoded pos = prompts.encode(job, r.prompt(), r.batchSize(), maxSequenceLength);
        Sd3Conditioning cond = new Sd3Conditioning(pos.context(), pos.pooled());
        Denoiser denoiser = PredictionType.FLOW_VELOCITY.wrap(new Sd3TransformerNetwork(transformer));
        if (cfg) {
            Sd3PromptEncoder.Encoded neg = prompts.encode(job, r.negativePrompt(), r.batchSize(), maxSequenceLength);
            denoiser = new ClassifierFreeGuidance(denoiser, new Sd3Conditioning(neg.context(), neg.pooled()),
                    r.guidanceScale(), r.guidanceRescale());
        }
        long t1 = System.nanoTime();
        NDArray latents = SamplingRun.sample(resolved, denoiser, cond,
                initialNoise.toDevice(weights.getDevice(), false), noise, listener, previews, r.preview(), true);
        long t2 = System.nanoTime();
        NDArray image = vae.latentsToImage(latents);
        if (image.isNaN().any().getBoolean()) {
            throw new GenerationException("the VAE produced NaN pixels (half-precision overflow: run the VAE in float32)");
        }
        long t3 = System.nanoTime();
        return new TimedImages(image, resolved, (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000);
    }

    /** The sampler and sigmas for {@code r}, with {@code mu} from the image sequence length for dynamic shifting. */
    private SchedulerSelection.Resolved resolve(GenerationRequest r) {
        int perToken = pixelsPerLatent() * transformer.config().patchSize();
        int seqLen = (r.height() / perToken) * (r.width() / perToken);
        try {
            return scheduler.resolve(r.sampler(), r.schedule(), r.steps(), scheduler.base().mu(seqLen));
        } catch (IllegalArgumentException e) {
            throw new GenerationException(r.sampler() != null && e.getMessage().startsWith("sampler") ? "sampler"
                    : "schedule", e.getMessage());
        }
    }

    @Override
    public void close() {
        if (ownsWeights) {
            weights.close();
        }
    }
}
