package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.lora.LoraTargets;
import dev.jdiffuse.models.textinv.EmbeddingSet;
import dev.jdiffuse.models.textinv.TextualInversion;
import dev.jdiffuse.models.vae.LatentPreview;
import dev.jdiffuse.samplers.ClassifierFreeGuidance;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.schedulers.SchedulerConfig;

import java.util.List;
import java.util.function.Supplier;

/**
 * What one architecture adds to the generation path {@link DiffusionPipeline} runs: its latent space, its defaults,
 * how a prompt becomes conditioning {@code C}, and the denoiser {@code D(x, sigma, C)} (prediction adapter,
 * ControlNets, classifier-free guidance). Everything else (scheduler, noise, sampling loop, previews, VAE decoding,
 * timings, the request check) is shared. A family holds loaded modules but owns no memory: the pipeline's weights
 * manager does. A new architecture is one such class and a loader registered in {@link Pipelines}.
 *
 * @param <C> the conditioning the family's network reads
 */
public interface ModelFamily<C extends Conditioning> {

    /** "sd1", "sd2", "sdxl", "sd3", "flux", "dit". */
    String id();

    /** Latent channels, pixels per latent, the size multiple and the largest side. */
    LatentSpace latents();

    /** Defaults for omitted request fields, given the scheduler's own sampler. */
    PipelineDefaults defaults(String defaultSampler);

    /** ControlNets this model can apply (empty if none). */
    default List<String> controlnets() {
        return List.of();
    }

    /** Problems of {@code request} only this family knows (class labels, ControlNet names...); cheap, no tensors. */
    default List<FieldError> check(GenerationRequest request) {
        return List.of();
    }

    /**
     * Whether this family takes {@link GenerationRequest#trueCfgScale()} (guidance-distilled models, whose
     * {@code guidanceScale} is an input of the network rather than a classifier-free guidance scale).
     */
    default boolean takesTrueCfgScale() {
        return false;
    }

    /** Dynamic-shift {@code mu} for flow schedules with {@code use_dynamic_shifting}; ignored otherwise. */
    default double mu(GenerationRequest request, SchedulerConfig scheduler) {
        return 0;
    }

    /**
     * The unshifted sigmas this family's diffusers pipeline passes to a flow-matching scheduler for {@code steps}
     * steps ({@code set_timesteps(sigmas=...)}; FLUX: {@code linspace(1, 1/n, n)}), or null for the scheduler's own
     * spacing (the default).
     */
    default double[] flowSigmas(int steps) {
        return null;
    }

    /**
     * The Align Your Steps levels published for this family ({@code dev.jdiffuse.schedulers.AlignYourSteps}), or null
     * (the default) where there are none and the {@code align_your_steps} schedule is refused.
     */
    default double[] alignYourSteps() {
        return null;
    }

    /** The prompt's conditioning and, when the request is guided (scale above 1), the unconditional one. */
    Prompts<C> encode(NDManager job, GenerationRequest request);

    /** The denoiser for one request; {@code config} is the resolved scheduler config (its prediction type). */
    Denoiser denoiser(NDManager job, GenerationRequest request, Prompts<C> prompts, SchedulerConfig config);

    /** The weights LoRAs may adapt (UNet, text encoders), by the names LoRA files give them; none by default. */
    default LoraTargets loraTargets() {
        return LoraTargets.NONE;
    }

    /**
     * Input channels the network reads beyond the latents: a 9-channel inpainting UNet's mask (1) and masked-image
     * latents (4), i.e. 5; 0 for ordinary models. The latent channels themselves come from the VAE.
     */
    default int imageConditioningChannels() {
        return 0;
    }

    /**
     * The denoiser with {@code imageConditioning} [B, k, h, w] concatenated on channels to the network's input after
     * the prediction adapter scales it (diffusers concatenates after {@code scale_model_input}); only called with a
     * non-null array by families whose {@link #imageConditioningChannels()} is non-zero.
     */
    default Denoiser denoiser(NDManager job, GenerationRequest request, Prompts<C> prompts, SchedulerConfig config,
            NDArray imageConditioning) {
        return denoiser(job, request, prompts, config);
    }

    /**
     * The batcher through which this family's network is called, so concurrent requests can share forwards, or null
     * when the family does not batch across requests.
     */
    default StepBatcher stepBatcher() {
        return null;
    }

    /**
     * Where the textual-inversion embeddings that prompts may name come from; families whose prompts take none (all
     * but Stable Diffusion's) ignore it.
     */
    default void useEmbeddings(Supplier<EmbeddingSet> source) {
    }

    /** The textual-inversion embeddings {@code request}'s prompts use, each once, in order; none by default. */
    default List<TextualInversion> embeddingsUsed(GenerationRequest request) {
        return List.of();
    }

    /** The recent prompts' text-encoder outputs, or null for a family that keeps none (DiT: class labels). */
    default PromptEmbeddingCache<?> promptCache() {
        return null;
    }

    /** The latent-to-RGB factors for cheap previews, or null if none are known. */
    LatentPreview preview();

    /** Conditional and unconditional conditioning; {@code negative} is null without guidance. */
    record Prompts<C extends Conditioning>(C positive, C negative) {
    }

    /**
     * Whether {@code request} asks for classifier-free guidance (diffusers: {@code guidance_scale > 1}), or its sampler
     * steps along the unconditional prediction (CFG++, run at scales around 1 and below, where the guided prediction is
     * {@code D_u + w (D_c - D_u)} all the same).
     */
    static boolean guided(GenerationRequest request) {
        return request.guidanceScale() > 1.0 || request.sampler() != null
                && SamplerCatalog.sampler(request.sampler()).map(SamplerCatalog.Entry::needsUnconditional).orElse(false);
    }

    /** A network's output in float32, so the sampler state stays full precision whatever the weights' dtype. */
    static NDArray float32(NDArray output) {
        return output.getDataType() == DataType.FLOAT32 ? output : output.toType(DataType.FLOAT32, false);
    }

    /** {@code denoiser} with classifier-free guidance against {@code prompts.negative()}, if there is one. */
    static Denoiser withGuidance(Denoiser denoiser, Prompts<?> prompts, GenerationRequest request) {
        return prompts.negative() == null ? denoiser : new ClassifierFreeGuidance(denoiser, prompts.negative(),
                request.guidanceScale(), request.guidanceRescale());
    }
}
