package dev.jdiffuse.models.pipeline.dit;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.dit.DiTConfig;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.models.nn.InferenceThreads;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LatentSpace;
import dev.jdiffuse.models.pipeline.ModelFamily;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.samplers.prediction.Network;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.SchedulerConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Class-conditional generation with a Diffusion Transformer (Peebles and Xie 2023), as diffusers' {@code DiTPipeline}:
 * one class per request ({@link DitClassLabels}: {@code class_label}, or the prompt as an index or a name), the
 * learned-sigma output's first {@code in_channels} channels as the noise prediction ({@link #prediction}), the
 * scheduler's prediction type, and classifier-free guidance against the null class ({@code num_embeds_ada_norm}).
 * diffusers guides eps ({@code eps_u + s (eps_c - eps_u)}); guidance is affine, so guiding x0 as the samplers'
 * guidance does is the same. The original DiT code guides only the first 3 channels; diffusers all of them, as here.
 * diffusers steps both (identical) halves of its [2B] batch; here the sampler state is [B], the same sample for
 * deterministic samplers (stochastic ones draw [B] noise where diffusers draws [2B], so their streams differ).
 *
 * <p>diffusers samples at the transformer's {@code sample_size}; that is the default size here, and other multiples of
 * {@code 8 x patch_size} are accepted (sin-cos positions are computed per grid, as diffusers' {@code PatchEmbed}).
 * Concurrent requests on one model share the transformer's forwards through its {@link #stepBatcher()} (rows of any
 * classes, guided or not, at their own timesteps); a request alone calls it exactly as without batching.
 * Loading: {@link DitLoader}.
 */
public final class DiTFamily implements ModelFamily<DitConditioning> {

    /** diffusers' class-conditional DiT pipeline class. */
    public static final String PIPELINE_CLASS = "DiTPipeline";

    private final DiTTransformer2DModel transformer;
    private final DitClassLabels labels;
    private final LatentSpace latents;
    private final StepBatcher batcher;

    DiTFamily(DiTTransformer2DModel transformer, DitClassLabels labels, int pixelsPerLatent) {
        DiTConfig c = transformer.config();
        this.transformer = transformer;
        this.labels = labels;
        this.latents = new LatentSpace(c.inChannels(), pixelsPerLatent, pixelsPerLatent * c.patchSize(), 0);
        this.batcher = new StepBatcher(new DitNetwork(transformer), InferenceThreads::prepare);
    }

    @Override
    public String id() {
        return "dit";
    }

    @Override
    public LatentSpace latents() {
        return latents;
    }

    /** The class names the folder's {@code id2label} gives (synonyms included; empty if none). */
    public List<String> classNames() {
        return labels.names();
    }

    /** The class id {@code request} asks for (its {@code class_label}, or its prompt as an index or a name). */
    public int classOf(GenerationRequest request) {
        return labels.resolve(request);
    }

    /** The transformer's {@code sample_size x 8}, 50 steps and guidance 4.0 ({@code DiTPipeline.__call__}'s). */
    @Override
    public PipelineDefaults defaults(String defaultSampler) {
        int size = transformer.config().sampleSize() * latents.pixelsPerLatent();
        return new PipelineDefaults(defaultSampler, "default", 50, size, size, 4.0);
    }

    @Override
    public List<FieldError> check(GenerationRequest r) {
        List<FieldError> errors = new ArrayList<>(labels.check(r));
        if (r.clipSkip() != 1) {
            errors.add(FieldError.invalid("clip_skip", "clip_skip applies to CLIP text encoders; DiT has none"));
        }
        if (r.guidanceRescale() != 0) {
            errors.add(FieldError.invalid("guidance_rescale", "guidance rescale is not defined for DiT's class "
                    + "guidance (diffusers' DiTPipeline has none)"));
        }
        return errors;
    }

    /** The class, and with guidance the null class ({@code num_embeds_ada_norm}) as the unconditional branch. */
    @Override
    public Prompts<DitConditioning> encode(NDManager job, GenerationRequest r) {
        DitConditioning cls = DitConditioning.repeated(labels.resolve(r), r.batchSize());
        return new Prompts<>(cls, ModelFamily.guided(r)
                ? DitConditioning.repeated(transformer.config().numEmbedsAdaNorm(), r.batchSize()) : null);
    }

    @Override
    public Denoiser denoiser(NDManager job, GenerationRequest r, Prompts<DitConditioning> p, SchedulerConfig config) {
        return denoiser(batcher, PredictionType.parse(config.predictionType()), p, r);
    }

    /** The transformer's calls ({@link DitNetwork}), shared by concurrent requests that joined it (one per model). */
    @Override
    public StepBatcher stepBatcher() {
        return batcher;
    }

    /** The first {@code channels} channels of [B, K, h, w], float32. */
    static NDArray prediction(NDArray output, int channels) {
        return ModelFamily.float32(output.getShape().get(1) == channels ? output : output.get(":, 0:" + channels));
    }

    /** The DiT denoiser of {@code network}: its prediction adapter, then guidance. */
    static Denoiser denoiser(Network network, PredictionType prediction, Prompts<DitConditioning> p,
            GenerationRequest r) {
        return ModelFamily.withGuidance(prediction.wrap(network), p, r);
    }

    /** DiT's VAE is Stable Diffusion's (sd-vae-ft-ema/mse), so SD 1.x's latent-to-RGB factors apply. */
    @Override
    public LatentPreview preview() {
        return transformer.config().inChannels() == 4 ? LatentPreview.SD1 : null;
    }
}
