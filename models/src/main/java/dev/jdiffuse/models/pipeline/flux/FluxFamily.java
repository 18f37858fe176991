package dev.jdiffuse.models.pipeline.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.flux.FluxLoraNames;
import dev.jdiffuse.models.flux.FluxTransformer2DModel;
import dev.jdiffuse.models.flux.FluxTransformerConfig;
import dev.jdiffuse.models.lora.LoraTargets;
import dev.jdiffuse.models.nn.InferenceThreads;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LatentSpace;
import dev.jdiffuse.models.pipeline.ModelFamily;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PromptEmbeddingCache;
import dev.jdiffuse.models.prompt.PromptSyntax;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.samplers.ClassifierFreeGuidance;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.samplers.prediction.Network;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SchedulerConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * FLUX.1 (Black Forest Labs 2024), as diffusers' {@code FluxPipeline}: T5 context + pooled CLIP-L
 * ({@link FluxPromptEncoder}), the transformer predicting the rectified-flow velocity ({@code x0 = x - sigma v}) of
 * 16-channel latents packed into 2x2 patches (packing happens inside the network adapter, so samplers, noise draws
 * and workflows see ordinary [B, 16, H/8, W/8] latents, drawn in diffusers' order), flow-matching Euler over
 * {@code linspace(1, 1/n, n)} shifted by {@code mu} of the packed token count (dev) or unshifted (schnell).
 *
 * <p>Guidance: FLUX.1-dev is guidance-distilled; the request's {@code guidance_scale} is embedded in the conditioning
 * vector and by default there is no classifier-free guidance (no negative prompt, one forward per step), as in
 * diffusers' pipeline with its default {@code true_cfg_scale=1}. Schnell has no guidance input; its scale is ignored.
 * With {@code true_cfg_scale > 1} the request runs diffusers' "true CFG": the negative prompt ("" if none) is encoded
 * too and each step combines {@code v_neg + s (v - v_neg)} ({@code FluxPipeline.__call__}, {@code do_true_cfg}); both
 * branches keep the distilled guidance input, and they share one batched forward (diffusers runs two).
 *
 * <p>The T5 context length is diffusers' {@code max_sequence_length}: 512 by default, 256 for a model without a
 * guidance embedder (schnell's limit); {@link #withMaxSequenceLength} changes it. Loading: {@link FluxLoader}.
 */
public final class FluxFamily implements ModelFamily<FluxConditioning> {

    /** diffusers' FLUX.1 pipeline class. */
    public static final String PIPELINE_CLASS = "FluxPipeline";

    private final FluxPromptEncoder prompts;
    private final FluxTransformer2DModel transformer;
    private final LatentSpace latents;
    private final int maxSequenceLength;
    private final StepBatcher batcher;

    FluxFamily(FluxPromptEncoder prompts, FluxTransformer2DModel transformer, int pixelsPerLatent) {
        this(prompts, transformer, pixelsPerLatent, transformer.config().guidanceEmbeds() ? 512 : 256, null);
    }

    private FluxFamily(FluxPromptEncoder prompts, FluxTransformer2DModel transformer, int pixelsPerLatent,
            int maxSequenceLength, StepBatcher batcher) {
        if (maxSequenceLength < 1) {
            throw new IllegalArgumentException("max sequence length must be positive: " + maxSequenceLength);
        }
        FluxTransformerConfig c = transformer.config();
        this.prompts = prompts;
        this.transformer = transformer;
        this.latents = new LatentSpace(c.latentChannels(), pixelsPerLatent, 2 * pixelsPerLatent, 0);
        this.maxSequenceLength = maxSequenceLength;
        this.batcher = batcher != null ? batcher : new StepBatcher(new PackedNetwork(transformer),
                InferenceThreads::prepare);
    }

    /** This family with another T5 context length (diffusers' {@code max_sequence_length}); shares its batcher. */
    public FluxFamily withMaxSequenceLength(int length) {
        return new FluxFamily(prompts, transformer, latents.pixelsPerLatent(), length, batcher);
    }

    /** {@code pipeline} (a FLUX one) with another T5 context length; shares its weights. */
    public static DiffusionPipeline withMaxSequenceLength(DiffusionPipeline pipeline, int length) {
        return pipeline.withFamily(((FluxFamily) pipeline.architecture()).withMaxSequenceLength(length));
    }

    public int maxSequenceLength() {
        return maxSequenceLength;
    }

    /** Whether the model takes the distilled guidance scale (FLUX.1-dev) rather than none (schnell). */
    public boolean guidanceDistilled() {
        return transformer.config().guidanceEmbeds();
    }

    @Override
    public String id() {
        return "flux";
    }

    @Override
    public LatentSpace latents() {
        return latents;
    }

    /**
     * 1024 x 1024; dev: 28 steps at guidance 3.5 (diffusers' defaults); schnell (no guidance embedder): 4 steps,
     * guidance 0, as Black Forest Labs publish it.
     */
    @Override
    public PipelineDefaults defaults(String defaultSampler) {
        boolean dev = guidanceDistilled();
        return new PipelineDefaults(defaultSampler, "default", dev ? 28 : 4, 1024, 1024, dev ? 3.5 : 0.0);
    }

    /** {@code mu} of the packed token count {@code (H/16)(W/16)} (diffusers' {@code calculate_shift}). */
    /** FLUX takes diffusers' {@code true_cfg_scale} on top of its distilled guidance. */
    @Override
    public boolean takesTrueCfgScale() {
        return true;
    }

    @Override
    public double mu(GenerationRequest r, SchedulerConfig scheduler) {
        int perToken = latents.multiple();
        return scheduler.mu((r.height() / perToken) * (r.width() / perToken));
    }

    @Override
    public double[] flowSigmas(int steps) {
        return DiffusersSchedules.fluxSigmas(steps);
    }

    /**
     * Prompt weights, {@code BREAK}, clip skip and negative prompts are not applied to FLUX (a T5 context, no
     * classifier-free guidance): a request using them is refused naming the field rather than read differently.
     */
    @Override
    public List<FieldError> check(GenerationRequest r) {
        List<FieldError> errors = new ArrayList<>();
        if (r.clipSkip() != 1) {
            errors.add(FieldError.invalid("clip_skip", "clip_skip does not apply to FLUX models (their CLIP encoder "
                    + "only gives the pooled vector); leave it at 1"));
        }
        if (!trueCfg(r) && !r.negativePrompt().isBlank()) {
            errors.add(FieldError.invalid("negative_prompt", "FLUX models are guidance-distilled and run without "
                    + "classifier-free guidance unless true_cfg_scale is above 1, so this negative prompt would have "
                    + "no effect; leave it empty or set true_cfg_scale (e.g. 4)"));
        }
        if (r.guidanceRescale() != 0) {
            errors.add(FieldError.invalid("guidance_rescale", "guidance_rescale is not part of FLUX's pipeline "
                    + "(diffusers' FluxPipeline has no rescale for its true CFG); leave it at 0"));
        }
        if (trueCfg(r) && r.promptSyntax().unweightedText(r.negativePrompt()) == null) {
            errors.add(FieldError.invalid("negative_prompt", "negative_prompt uses emphasis weights or BREAK, which "
                    + "FLUX models do not apply: remove them, escape the brackets (\\( \\)) or set prompt_syntax to "
                    + "plain"));
        }
        if (r.promptSyntax().unweightedText(r.prompt()) == null) {
            errors.add(FieldError.invalid("prompt", "prompt uses emphasis weights or BREAK, which FLUX models do not "
                    + "apply: remove them, escape the brackets (\\( \\)) or set prompt_syntax to plain"));
        }
        return errors;
    }

    @Override
    public Prompts<FluxConditioning> encode(NDManager job, GenerationRequest r) {
        PromptSyntax syntax = r.promptSyntax();
        FluxPromptEncoder.Encoded e = prompts.encode(job, syntax.unweightedText(r.prompt()), r.batchSize(),
                maxSequenceLength);
        double[] guidance = new double[r.batchSize()];
        Arrays.fill(guidance, r.guidanceScale());
        FluxConditioning negative = null;
        if (trueCfg(r)) {
            FluxPromptEncoder.Encoded n = prompts.encode(job, syntax.unweightedText(r.negativePrompt()),
                    r.batchSize(), maxSequenceLength);
            negative = new FluxConditioning(n.context(), n.pooled(), guidance);
        }
        return new Prompts<>(new FluxConditioning(e.context(), e.pooled(), guidance), negative);
    }

    /**
     * The transformer's velocity as x0 ({@code x - sigma v}); with true CFG, guided against the negative prompt at
     * {@code true_cfg_scale} (guidance is affine, so guiding x0 equals diffusers' guiding of the velocity).
     */
    @Override
    public Denoiser denoiser(NDManager job, GenerationRequest r, Prompts<FluxConditioning> p,
            SchedulerConfig config) {
        Denoiser velocity = PredictionType.FLOW_VELOCITY.wrap(batcher);
        return p.negative() == null ? velocity
                : new ClassifierFreeGuidance(velocity, p.negative(), r.trueCfgScale(), 0.0);
    }

    /** diffusers' {@code do_true_cfg}: a scale above 1 (the negative prompt defaults to ""). */
    private static boolean trueCfg(GenerationRequest r) {
        return r.trueCfgScale() > 1;
    }

    /** The transformer's calls, shared between concurrent requests that joined it (one per model). */
    @Override
    public StepBatcher stepBatcher() {
        return batcher;
    }

    /**
     * The transformer ({@code transformer.}: diffusers/PEFT names; kohya {@code lora_unet_} names of the original BFL
     * modules through {@link FluxLoraNames}, fused {@code qkv} / {@code linear1} split) and the CLIP-L text encoder
     * ({@code text_encoder.}, kohya {@code lora_te1_} / {@code lora_te_}). The T5 encoder takes no LoRA (diffusers
     * drops T5 layers; sd-scripts' {@code lora_te3_} ones fail the file's read).
     */
    @Override
    public LoraTargets loraTargets() {
        return new LoraTargets(Map.of("transformer", transformer, "text_encoder", prompts.clip()), null,
                FluxLoraNames.TABLE);
    }

    @Override
    public PromptEmbeddingCache<?> promptCache() {
        return prompts.cache();
    }

    @Override
    public LatentPreview preview() {
        return transformer.config().latentChannels() == 16 ? LatentPreview.FLUX : null;
    }

    /**
     * The transformer as the samplers' network on ordinary latents [B, C, h, w]: packs 2x2 patches into tokens
     * [B, (h/2)(w/2), 4C] (diffusers' {@code _pack_latents}), runs the model with one timestep per row, unpacks the
     * velocity ({@code _unpack_latents}) to [B, C, h, w] in float32.
     */
    private record PackedNetwork(FluxTransformer2DModel transformer) implements Network {

        @Override
        public NDArray forward(NDArray x, double timestep, Conditioning conditioning) {
            return forward(x, new double[] {timestep}, conditioning);
        }

        @Override
        public NDArray forward(NDArray x, double[] timesteps, Conditioning conditioning) {
            FluxConditioning c = (FluxConditioning) conditioning;
            Shape s = x.getShape();
            long b = s.get(0);
            long ch = s.get(1);
            int rows = (int) (s.get(2) / 2);
            int cols = (int) (s.get(3) / 2);
            NDArray tokens = x.reshape(b, ch, rows, 2, cols, 2).transpose(0, 2, 4, 1, 3, 5)
                    .reshape(b, (long) rows * cols, ch * 4);
            NDArray v = transformer.forward(tokens, rows, cols, c.context(), c.pooled(), timesteps, c.guidance());
            long out = v.getShape().get(2) / 4;
            NDArray unpacked = v.reshape(b, rows, cols, out, 2, 2).transpose(0, 3, 1, 4, 2, 5)
                    .reshape(b, out, 2L * rows, 2L * cols);
            return ModelFamily.float32(unpacked);
        }

        @Override
        public boolean timestepPerRow() {
            return true;
        }
    }
}
