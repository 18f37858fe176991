package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LatentSpace;
import dev.jdiffuse.models.pipeline.ModelFamily;
import dev.jdiffuse.models.nn.InferenceThreads;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PromptEmbeddingCache;
import dev.jdiffuse.models.prompt.PromptSyntax;
import dev.jdiffuse.models.sd3.SD3Transformer2DModel;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.samplers.prediction.Network;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.SchedulerConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Stable Diffusion 3 / 3.5 (Esser et al. 2024), as diffusers' {@code StableDiffusion3Pipeline} without a T5 encoder:
 * CLIP-L + CLIP-G prompt encoding ({@link Sd3PromptEncoder}; the T5 part of the context is zeros), the negative prompt
 * encoded the same way (SD3 never zeroes it), the MMDiT predicting the rectified-flow velocity ({@code x0 = x - sigma
 * v}, input unscaled, timestep {@code sigma x 1000}), flow-matching schedules with the config's {@code shift} or, with
 * {@code use_dynamic_shifting}, {@code mu} from the image sequence length (diffusers' {@code calculate_shift}).
 *
 * <p>The length of the zero T5 block is diffusers' {@code max_sequence_length} (default 256); it changes the image, as
 * the image tokens attend to the projected zero tokens, so {@link #withMaxSequenceLength} lets a caller match a run
 * made with another value. Loading: {@link Sd3Loader}.
 */
public final class StableDiffusion3Family implements ModelFamily<Sd3Conditioning> {

    /** diffusers' SD3 / SD3.5 pipeline class. */
    public static final String PIPELINE_CLASS = "StableDiffusion3Pipeline";

    /** diffusers' default {@code max_sequence_length}. */
    public static final int DEFAULT_MAX_SEQUENCE_LENGTH = 256;

    private final Sd3PromptEncoder prompts;
    private final SD3Transformer2DModel transformer;
    private final LatentSpace latents;
    private final int maxSequenceLength;
    private final StepBatcher batcher;

    StableDiffusion3Family(Sd3PromptEncoder prompts, SD3Transformer2DModel transformer, int pixelsPerLatent,
            int maxSequenceLength) {
        this(prompts, transformer, pixelsPerLatent, maxSequenceLength, null);
    }

    private StableDiffusion3Family(Sd3PromptEncoder prompts, SD3Transformer2DModel transformer, int pixelsPerLatent,
            int maxSequenceLength, StepBatcher batcher) {
        if (maxSequenceLength < 1) {
            throw new IllegalArgumentException("max sequence length must be positive: " + maxSequenceLength);
        }
        SD3TransformerConfig c = transformer.config();
        int multiple = pixelsPerLatent * c.patchSize();
        this.prompts = prompts;
        this.transformer = transformer;
        this.latents = new LatentSpace(c.inChannels(), pixelsPerLatent, multiple, c.posEmbedMaxSize() * multiple);
        this.maxSequenceLength = maxSequenceLength;
        this.batcher = batcher != null ? batcher : new StepBatcher(new MmditNetwork(transformer),
                InferenceThreads::prepare);
    }

    /** This family with another T5 context length (diffusers' {@code max_sequence_length}). */
    public StableDiffusion3Family withMaxSequenceLength(int length) {
        return new StableDiffusion3Family(prompts, transformer, latents.pixelsPerLatent(), length, batcher);
    }

    /** {@code pipeline} (an SD3 one) with another T5 context length; shares its weights. */
    public static DiffusionPipeline withMaxSequenceLength(DiffusionPipeline pipeline, int length) {
        return pipeline.withFamily(((StableDiffusion3Family) pipeline.architecture()).withMaxSequenceLength(length));
    }

    public int maxSequenceLength() {
        return maxSequenceLength;
    }

    @Override
    public String id() {
        return "sd3";
    }

    @Override
    public LatentSpace latents() {
        return latents;
    }

    /** 1024 x 1024 (or the transformer's {@code sample_size} if smaller), 28 steps, guidance 7.0 (diffusers'). */
    @Override
    public PipelineDefaults defaults(String defaultSampler) {
        int size = latents.side(1024, transformer.config().sampleSize());
        return new PipelineDefaults(defaultSampler, "default", 28, size, size, 7.0);
    }

    /** {@code mu} of the image sequence length {@code (H/f/p)(W/f/p)}. */
    @Override
    public double mu(GenerationRequest r, SchedulerConfig scheduler) {
        int perToken = latents.multiple();
        return scheduler.mu((r.height() / perToken) * (r.width() / perToken));
    }

    /**
     * Prompt weights, {@code BREAK} and clip skip are not applied to SD3 (three encoders, one of them T5, and no
     * A1111 convention for them): a request using them is refused naming the field rather than read differently.
     * Escaped brackets ({@code \(}) and {@code prompt_syntax: plain} pass brackets as text.
     */
    @Override
    public List<FieldError> check(GenerationRequest r) {
        List<FieldError> errors = new ArrayList<>();
        if (r.clipSkip() != 1) {
            errors.add(FieldError.invalid("clip_skip", "clip_skip is not applied to SD3 models (their CLIP context is "
                    + "always the penultimate layer); leave it at 1"));
        }
        checkUnweighted("prompt", r.prompt(), r.promptSyntax(), errors);
        checkUnweighted("negative_prompt", r.negativePrompt(), r.promptSyntax(), errors);
        return errors;
    }

    private static void checkUnweighted(String field, String text, PromptSyntax syntax, List<FieldError> errors) {
        if (syntax.unweightedText(text) == null) {
            errors.add(FieldError.invalid(field, field + " uses emphasis weights or BREAK, which SD3 models do not "
                    + "apply yet: remove them, escape the brackets (\\( \\)) or set prompt_syntax to plain"));
        }
    }

    /** The prompts' text as the syntax reads it; {@link #check} has refused weights. */
    @Override
    public Prompts<Sd3Conditioning> encode(NDManager job, GenerationRequest r) {
        PromptSyntax syntax = r.promptSyntax();
        Sd3PromptEncoder.Encoded pos = prompts.encode(job, syntax.unweightedText(r.prompt()), r.batchSize(),
                maxSequenceLength);
        Sd3PromptEncoder.Encoded neg = ModelFamily.guided(r)
                ? prompts.encode(job, syntax.unweightedText(r.negativePrompt()), r.batchSize(), maxSequenceLength)
                : null;
        return new Prompts<>(new Sd3Conditioning(pos.context(), pos.pooled()),
                neg == null ? null : new Sd3Conditioning(neg.context(), neg.pooled()));
    }

    @Override
    public Denoiser denoiser(NDManager job, GenerationRequest r, Prompts<Sd3Conditioning> p, SchedulerConfig config) {
        return ModelFamily.withGuidance(PredictionType.FLOW_VELOCITY.wrap(batcher), p, r);
    }

    /** The MMDiT's calls, shared between concurrent requests that joined it (one per model). */
    @Override
    public StepBatcher stepBatcher() {
        return batcher;
    }

    /**
     * The MMDiT as the samplers' network: the unscaled flow sample, timestep {@code sigma x 1000} (one per row when
     * requests share a forward), velocity out in float32.
     */
    private record MmditNetwork(SD3Transformer2DModel transformer) implements Network {

        @Override
        public NDArray forward(NDArray x, double timestep, Conditioning conditioning) {
            return forward(x, new double[] {timestep}, conditioning);
        }

        @Override
        public NDArray forward(NDArray x, double[] timesteps, Conditioning conditioning) {
            Sd3Conditioning c = (Sd3Conditioning) conditioning;
            return ModelFamily.float32(transformer.forward(x, c.context(), c.pooled(), timesteps));
        }

        @Override
        public boolean timestepPerRow() {
            return true;
        }
    }

    @Override
    public PromptEmbeddingCache<?> promptCache() {
        return prompts.cache();
    }

    @Override
    public LatentPreview preview() {
        return transformer.config().inChannels() == 16 ? LatentPreview.SD3 : null;
    }
}
