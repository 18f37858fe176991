package dev.jdiffuse.models.pipeline.sd;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.pipeline.ControlSpec;
import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.Images;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PreviewRenderer;
import dev.jdiffuse.models.pipeline.SamplingRun;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.TimedImages;
import dev.jdiffuse.models.unet.ControlNetModel;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.vae.AutoencoderTiny;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.samplers.ClassifierFreeGuidance;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Text-to-image for Stable Diffusion 1.x, 2.x and XL, as diffusers' {@code StableDiffusionPipeline},
 * {@code StableDiffusionXLPipeline} and their ControlNet variants: prompt encoding, classifier-free guidance, any
 * sampler, ControlNets between their start and end, VAE decoding to [0, 1].
 *
 * <p>Memory: the weights live in one manager for the pipeline's life; each {@link #generate} call opens a job
 * manager under it (every tensor of the request), and the samplers open a sub-manager per step, so a finished,
 * failed or cancelled request leaves nothing behind.
 */
public final class StableDiffusionPipeline implements ImagePipeline {

    private final String name;
    private final String family;
    private final NDManager weights;
    private final SdPromptEncoder prompts;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final SchedulerSelection scheduler;
    private final Map<String, ControlNetModel> controlnets;
    private final PreviewRenderer previews;
    private final boolean forceZerosForEmptyPrompt;
    private final AutoencoderTiny taesd;
    private final boolean ownsWeights;

    private StableDiffusionPipeline(String name, NDManager weights, SdPromptEncoder prompts,
            UNet2DConditionModel unet, AutoencoderKL vae, SchedulerSelection scheduler,
            Map<String, ControlNetModel> controlnets, AutoencoderTiny taesd, boolean forceZerosForEmptyPrompt,
            boolean ownsWeights) {
        this.name = name;
        this.taesd = taesd;
        this.ownsWeights = ownsWeights;
        this.weights = weights;
        this.prompts = prompts;
        this.unet = unet;
        this.vae = vae;
        this.scheduler = scheduler;
        this.controlnets = Map.copyOf(controlnets);
        this.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt;
        UNet2DConditionConfig c = unet.config();
        this.family = prompts.isSdxl() ? "sdxl" : c.crossAttentionDim().get(0) >= 1024 ? "sd2" : "sd1";
        LatentPreview projection = c.inChannels() != 4 ? null
                : prompts.isSdxl() ? LatentPreview.SDXL : LatentPreview.SD1;
        this.previews = new PreviewRenderer(projection, taesd);
    }

    /**
     * Opens a diffusers pipeline folder ({@code model_index.json}, {@code unet/}, {@code vae/}, {@code text_encoder/},
     * {@code tokenizer/}, {@code scheduler/}, and for SDXL {@code text_encoder_2/}, {@code tokenizer_2/}; an optional
     * {@code controlnet/}).
     *
     * @param taesd an optional tiny autoencoder for previews, or null
     */
    public static StableDiffusionPipeline openFolder(Path folder, String name, Device device, DataType dtype,
            AutoencoderTiny taesd) {
        NDManager weights = NDManager.newBaseManager(device);
        try {
            JsonNode index = ConfigJson.read(folder.resolve("model_index.json")).node();
            ClipTokenizer tok = ClipTokenizer.load(folder.resolve("tokenizer"));
            ClipTextModel te = ClipTextModel.load(folder.resolve("text_encoder"), weights, dtype);
            ClipTokenizer tok2 = null;
            ClipTextModel te2 = null;
            if (Files.isDirectory(folder.resolve("text_encoder_2"))) {
                tok2 = ClipTokenizer.load(folder.resolve("tokenizer_2"));
                te2 = ClipTextModel.load(folder.resolve("text_encoder_2"), weights, dtype);
            }
            UNet2DConditionModel unet = UNet2DConditionModel.load(folder.resolve("unet"), weights, dtype);
            AutoencoderKL vae = AutoencoderKL.load(folder.resolve("vae"), weights, vaeType(
                    AutoencoderKLConfig.read(folder.resolve("vae/config.json")), dtype));
            SchedulerSelection sched = SchedulerSelection.read(folder.resolve("scheduler/scheduler_config.json"));
            Map<String, ControlNetModel> cns = new LinkedHashMap<>();
            if (Files.isDirectory(folder.resolve("controlnet"))) {
                cns.put("controlnet", ControlNetModel.load(folder.resolve("controlnet"), weights, dtype));
            }
            boolean zeros = index.path("force_zeros_for_empty_prompt").asBoolean(te2 != null);
            return new StableDiffusionPipeline(name, weights, new SdPromptEncoder(tok, te, tok2, te2), unet, vae,
                    sched, cns, taesd, zeros, true);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * Opens an original single-file SD 1.x/2.x checkpoint ({@code model.diffusion_model.*},
     * {@code first_stage_model.*}, {@code cond_stage_model.transformer.*}) with hyper-parameters, tokenizer and
     * scheduler from a diffusers config folder, as diffusers' {@code from_single_file(config=...)}.
     *
     * @param configFolder the config folder, or null for Stable Diffusion 1.5's configs ({@link Sd15Defaults}; the
     *     tokenizer then comes from {@code <name>.tokenizer/} or {@code tokenizer/} beside the checkpoint)
     */
    public static StableDiffusionPipeline openSingleFile(Path checkpoint, Path configFolder, String name,
            Device device, DataType dtype, AutoencoderTiny taesd) {
        Path tokenizer = configFolder == null ? Sd15Defaults.tokenizerBeside(checkpoint)
                : configFolder.resolve("tokenizer");
        if (configFolder == null) {
            configFolder = Sd15Defaults.configFolder();
        }
        NDManager weights = NDManager.newBaseManager(device);
        try (SafetensorsStateDict file = SafetensorsStateDict.open(checkpoint)) {
            ClipTokenizer tok = ClipTokenizer.load(tokenizer);
            ClipTextModel te = ClipTextModel.loadSingleFile(
                    ClipTextConfig.read(configFolder.resolve("text_encoder/config.json")), file, weights, dtype);
            UNet2DConditionModel unet = UNet2DConditionModel.loadLdm(
                    UNet2DConditionConfig.read(configFolder.resolve("unet/config.json")), file, weights, dtype,
                    checkpoint.getFileName().toString());
            AutoencoderKLConfig vc = AutoencoderKLConfig.read(configFolder.resolve("vae/config.json"));
            AutoencoderKL vae = AutoencoderKL.loadSingleFile(vc, file, weights, vaeType(vc, dtype));
            SchedulerSelection sched = SchedulerSelection.read(
                    configFolder.resolve("scheduler/scheduler_config.json"));
            return new StableDiffusionPipeline(name, weights, new SdPromptEncoder(tok, te, null, null), unet, vae,
                    sched, Map.of(), taesd, false, true);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * The same loaded model with another scheduler config (diffusers' {@code pipe.scheduler = ...}); shares the
     * weights, which stay owned by this pipeline.
     */
    public StableDiffusionPipeline withScheduler(SchedulerSelection other) {
        return new StableDiffusionPipeline(name, weights, prompts, unet, vae, other, controlnets, taesd,
                forceZerosForEmptyPrompt, false);
    }

    /** diffusers runs VAEs marked {@code force_upcast} in float32 even in half-precision pipelines. */
    private static DataType vaeType(AutoencoderKLConfig c, DataType dtype) {
        return c.forceUpcast() && dtype == DataType.FLOAT16 ? DataType.FLOAT32 : dtype;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String family() {
        return family;
    }

    @Override
    public PipelineDefaults defaults() {
        int size = family.equals("sdxl") ? 1024 : family.equals("sd2") ? 768 : 512;
        int sample = unet.config().sampleSize() * pixelsPerLatent();
        if (sample > 0 && sample < size) {
            size = sample;
        }
        return new PipelineDefaults(scheduler.defaultSampler(), "default", family.equals("sdxl") ? 30 : 25, size,
                size, family.equals("sdxl") ? 5.0 : 7.5);
    }

    @Override
    public List<String> controlnets() {
        return List.copyOf(controlnets.keySet());
    }

    /** Samplers usable with this model (its prediction type and noise space). */
    public List<String> samplers() {
        return scheduler.samplers();
    }

    @Override
    public int pixelsPerLatent() {
        return 1 << (vae.config().blockOutChannels().size() - 1);
    }

    @Override
    public SamplingSchedule schedule(GenerationRequest request) {
        return scheduler.resolve(request.sampler(), request.schedule(), request.steps(), 0).schedule();
    }

    @Override
    public GenerationResult generate(GenerationRequest request, GenerationListener listener) {
        return TimedImages.generate(weights, request, latentShape(request),
                (job, initial, noise) -> run(request, job, initial, noise, listener));
    }

    /** [B, C, H/8, W/8] for the request. */
    public Shape latentShape(GenerationRequest r) {
        int f = pixelsPerLatent();
        if (r.width() % f != 0 || r.height() % f != 0) {
            throw new GenerationException(r.width() % f != 0 ? "width" : "height",
                    "width and height must be multiples of " + f);
        }
        return new Shape(r.batchSize(), unet.config().inChannels(), r.height() / f, r.width() / f);
    }


    /**
     * The whole run from given unit-normal initial latents; the image [B, 3, H, W] float32 in [0, 1] belongs to
     * {@code job}. Public for parity tests, which feed diffusers' latents and recorded sampler noise.
     */
    public TimedImages run(GenerationRequest r, NDManager job, NDArray initialNoise, NoiseSource noise,
            GenerationListener listener) {
        SchedulerSelection.Resolved resolved;
        try {
            resolved = scheduler.resolve(r.sampler(), r.schedule(), r.steps(), 0);
        } catch (IllegalArgumentException e) {
            throw new GenerationException(r.sampler() != null && e.getMessage().startsWith("sampler") ? "sampler"
                    : "schedule", e.getMessage());
        }
        long t0 = System.nanoTime();
        boolean cfg = r.guidanceScale() > 1.0;
        SdPromptEncoder.Encoded pos = prompts.encode(job, r.prompt(), r.batchSize());
        SdPromptEncoder.Encoded neg = null;
        if (cfg) {
            neg = prompts.isSdxl() && forceZerosForEmptyPrompt && r.negativePrompt().isEmpty()
                    ? prompts.zerosLike(pos) : prompts.encode(job, r.negativePrompt(), r.batchSize());
        }
        NDArray timeIds = prompts.isSdxl() ? sdxlTimeIds(job, r) : null;
        SdConditioning cond = new SdConditioning(pos.context(), pos.pooled(), timeIds);
        long t1 = System.nanoTime();

        PredictionType prediction = PredictionType.parse(resolved.config().predictionType());
        Denoiser denoiser = prediction.wrap(new UNetNetwork(unet));
        for (ControlSpec spec : r.controlnets()) {
            ControlNetModel cn = controlnets.get(spec.model());
            if (cn == null) {
                throw new GenerationException("controlnets", "unknown ControlNet '" + spec.model() + "'; this model has "
                        + controlnets.keySet());
            }
            NDArray image = Images.fromBufferedImage(job, spec.image(), r.width(), r.height())
                    .toDevice(weights.getDevice(), false);
            denoiser = new ControlNetDenoiser(denoiser, cn, image, spec.scale(), spec.start(), spec.end(),
                    (x, sigma) -> x.mul((float) (1 / Math.sqrt(sigma * sigma + 1))));
        }
        if (cfg) {
            SdConditioning uncond = new SdConditioning(neg.context(), neg.pooled(), timeIds);
            denoiser = new ClassifierFreeGuidance(denoiser, uncond, r.guidanceScale(), r.guidanceRescale());
        }
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

    /** SDXL micro-conditioning: (original H, W, crop top, left, target H, W), the same for both CFG halves. */
    private NDArray sdxlTimeIds(NDManager job, GenerationRequest r) {
        float[] ids = new float[r.batchSize() * 6];
        for (int b = 0; b < r.batchSize(); b++) {
            float[] row = {r.height(), r.width(), 0, 0, r.height(), r.width()};
            System.arraycopy(row, 0, ids, b * 6, 6);
        }
        return job.create(ids, new Shape(r.batchSize(), 6)).toDevice(weights.getDevice(), false);
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
