package dev.jdiffuse.models.pipeline.dit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.dit.DiTConfig;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
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
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.vae.AutoencoderTiny;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.nio.file.Path;
import java.util.List;

/**
 * Class-conditional generation with a Diffusion Transformer (Peebles and Xie 2023), as diffusers' {@code DiTPipeline}:
 * one class for the request (see {@link DitClassLabels} for how {@code classLabel} and {@code prompt} map to it),
 * classifier-free guidance against the null class exactly as diffusers applies it (see {@link DitGuidedNetwork}),
 * the learned-sigma output's first half as the noise prediction, any diffusion sampler over the folder's scheduler
 * config (betas, prediction type and spacing from {@code scheduler/scheduler_config.json}; the default sampler is the
 * one reproducing the class that file names, as diffusers runs it), and VAE decoding ({@code latents /
 * scaling_factor}).
 *
 * <p>diffusers' {@code DiTPipeline} always samples at the transformer's {@code sample_size}; here that is the default
 * size, and other multiples of {@code 8 x patch_size} are accepted (the sin-cos positions are computed per grid, as
 * diffusers' {@code PatchEmbed} does), though the released models were trained at one size.
 *
 * <p>Memory: the weights live in one manager for the pipeline's life; each {@link #generate} call opens a job
 * manager under it, and the samplers open a sub-manager per step.
 */
public final class DiTPipeline implements ImagePipeline {

    private final String name;
    private final NDManager weights;
    private final DiTTransformer2DModel transformer;
    private final AutoencoderKL vae;
    private final SchedulerSelection scheduler;
    private final DitClassLabels labels;
    private final AutoencoderTiny taesd;
    private final PreviewRenderer previews;
    private final boolean ownsWeights;

    private DiTPipeline(String name, NDManager weights, DiTTransformer2DModel transformer, AutoencoderKL vae,
            SchedulerSelection scheduler, DitClassLabels labels, AutoencoderTiny taesd, boolean ownsWeights) {
        this.name = name;
        this.weights = weights;
        this.transformer = transformer;
        this.vae = vae;
        this.scheduler = scheduler;
        this.labels = labels;
        this.taesd = taesd;
        this.ownsWeights = ownsWeights;
        // DiT's VAE is Stable Diffusion's (sd-vae-ft-ema/mse), so SD 1.x's latent-to-RGB factors apply.
        LatentPreview projection = transformer.config().inChannels() == 4 ? LatentPreview.SD1 : null;
        this.previews = new PreviewRenderer(projection, taesd);
    }

    /**
     * Opens a diffusers pipeline folder ({@code model_index.json} with an optional {@code id2label},
     * {@code transformer/}, {@code vae/}, {@code scheduler/}).
     *
     * @param taesd an optional tiny autoencoder for previews (TAESD for the SD 1.x latent space), or null
     */
    public static DiTPipeline openFolder(Path folder, String name, Device device, DataType dtype,
            AutoencoderTiny taesd) {
        NDManager weights = NDManager.newBaseManager(device);
        try {
            JsonNode index = ConfigJson.read(folder.resolve("model_index.json")).node();
            DiTTransformer2DModel transformer = DiTTransformer2DModel.load(folder.resolve("transformer"), weights,
                    dtype);
            DiTConfig tc = transformer.config();
            String transformerConfig = folder.resolve("transformer/config.json").toString();
            if (tc.outChannels() != tc.inChannels() && tc.outChannels() != 2 * tc.inChannels()) {
                throw new ConfigException(transformerConfig, "out_channels", "must be in_channels (" + tc.inChannels()
                        + ") or twice that (learned sigma), not " + tc.outChannels());
            }
            AutoencoderKLConfig vc = AutoencoderKLConfig.read(folder.resolve("vae/config.json"));
            if (vc.latentChannels() != tc.inChannels()) {
                throw new ConfigException(folder.resolve("vae/config.json").toString(), "latent_channels",
                        "is " + vc.latentChannels() + " but the transformer takes " + tc.inChannels() + " channels");
            }
            AutoencoderKL vae = AutoencoderKL.load(folder.resolve("vae"), weights, vaeType(vc, dtype));
            SchedulerSelection sched = SchedulerSelection.read(folder.resolve("scheduler/scheduler_config.json"));
            if (sched.isFlow()) {
                throw new ConfigException(folder.resolve("scheduler/scheduler_config.json").toString(),
                        "_class_name", "DiT is a diffusion (epsilon) model, not a flow model");
            }
            JsonNode id2label = index.has("id2label") ? index.get("id2label")
                    : ConfigJson.read(folder.resolve("transformer/config.json")).node().get("id2label");
            return new DiTPipeline(name, weights, transformer, vae, sched,
                    DitClassLabels.of(id2label, tc.numEmbedsAdaNorm()), taesd, true);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** diffusers runs VAEs marked {@code force_upcast} in float32 even in half-precision pipelines. */
    private static DataType vaeType(AutoencoderKLConfig c, DataType dtype) {
        return c.forceUpcast() && dtype == DataType.FLOAT16 ? DataType.FLOAT32 : dtype;
    }

    /** The same loaded model with another scheduler config; shares the weights, which stay owned by this pipeline. */
    public DiTPipeline withScheduler(SchedulerSelection other) {
        return new DiTPipeline(name, weights, transformer, vae, other, labels, taesd, false);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String family() {
        return "dit";
    }

    /**
     * The transformer's {@code sample_size x 8} (256 for DiT-XL/2-256), the folder scheduler's own sampler, 50 steps
     * and guidance 4.0 ({@code DiTPipeline.__call__}'s defaults).
     */
    @Override
    public PipelineDefaults defaults() {
        int size = transformer.config().sampleSize() * pixelsPerLatent();
        return new PipelineDefaults(scheduler.defaultSampler(), "default", 50, size, size, 4.0);
    }

    @Override
    public List<String> controlnets() {
        return List.of();
    }

    /** Samplers usable with this model. */
    public List<String> samplers() {
        return scheduler.samplers();
    }

    /** The class names the folder's {@code id2label} gives (synonyms included; empty if none). */
    public List<String> classNames() {
        return labels.names();
    }

    /** The class id {@code request} asks for (its {@code classLabel}, or its prompt as an index or a name). */
    public int classOf(GenerationRequest request) {
        return labels.resolve(request);
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

    /** [B, C, H/8, W/8] for the request; H and W must be multiples of 8 x patch size. */
    public Shape latentShape(GenerationRequest r) {
        int f = pixelsPerLatent();
        int multiple = f * transformer.config().patchSize();
        if (r.width() % multiple != 0 || r.height() % multiple != 0) {
            throw new GenerationException(r.width() % multiple != 0 ? "width" : "height",
                    "width and height must be multiples of " + multiple);
        }
        return new Shape(r.batchSize(), transformer.config().inChannels(), r.height() / f, r.width() / f);
    }


    /**
     * The whole run from given unit-normal initial latents; the image [B, 3, H, W] float32 in [0, 1] belongs to
     * {@code job}.
     */
    public TimedImages run(GenerationRequest r, NDManager job, NDArray initialNoise, NoiseSource noise,
            GenerationListener listener) {
        latentShape(r);
        if (r.guidanceRescale() != 0) {
            throw new GenerationException("guidanceRescale", "guidance rescale is not defined for DiT's "
                    + "class guidance (diffusers' DiTPipeline has none)");
        }
        SchedulerSelection.Resolved resolved = resolve(r);
        long t0 = System.nanoTime();
        DitConditioning cond = DitConditioning.repeated(labels.resolve(r), r.batchSize());
        PredictionType prediction = PredictionType.parse(resolved.config().predictionType());
        Denoiser denoiser = prediction.wrap(new DitGuidedNetwork(transformer, r.guidanceScale()));
        long t1 = System.nanoTime();
        NDArray latents = SamplingRun.sample(resolved, denoiser, cond,
                initialNoise.toDevice(weights.getDevice(), false), noise, listener, previews, r.preview(), false);
        long t2 = System.nanoTime();
        NDArray image = vae.latentsToImage(latents);
        if (image.isNaN().any().getBoolean()) {
            throw new GenerationException("the VAE produced NaN pixels (half-precision overflow: run the VAE in float32)");
        }
        long t3 = System.nanoTime();
        return new TimedImages(image, resolved, (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000);
    }

    private SchedulerSelection.Resolved resolve(GenerationRequest r) {
        try {
            return scheduler.resolve(r.sampler(), r.schedule(), r.steps(), 0);
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
