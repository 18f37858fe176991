package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.util.List;

/**
 * A loaded model that turns a {@link GenerationRequest} into images. Implementations own their weights (one
 * {@code NDManager}) and create a manager per job with a sub-manager per step, so nothing outlives a request.
 * {@link #generate} may be called from one worker thread at a time per device.
 */
public interface ImagePipeline extends AutoCloseable {

    /** The model's name (its folder or file name). */
    String name();

    /** Family: "sd1", "sd2", "sdxl", "sd3", "flux", "dit". */
    String family();

    /** Defaults for omitted request fields: sampler, schedule, steps, size, guidance. */
    PipelineDefaults defaults();

    /** Names of the ControlNets this pipeline can apply (empty if none). */
    List<String> controlnets();

    /** Pixels per latent pixel (8 for SD/SDXL/SD3). Sizes must be multiples of it. */
    int pixelsPerLatent();

    /**
     * What image sides must be multiples of: the latent factor times a transformer's patch (16 for SD3 and FLUX's 2x2
     * packing), or the latent factor alone (8 for UNets).
     */
    default int sizeMultiple() {
        return pixelsPerLatent();
    }

    /** Sampler names usable with this model (its noise space and prediction type). */
    default List<String> samplers() {
        return List.of();
    }

    /**
     * Every problem of {@code request} with this model (sampler, schedule, size multiple, ControlNet names, class
     * label...), empty when it can run. Cheap: no tensors. The server's dry run and the worker both rely on it, so a
     * request that passes here fails later only for engine reasons ({@link GenerationException}).
     */
    default List<FieldError> check(GenerationRequest request) {
        try {
            schedule(request);
            return List.of();
        } catch (InvalidRequestException e) {
            return e.errors();
        }
    }

    /** The exact sigmas and timesteps {@code request} would use (dry run). */
    SamplingSchedule schedule(GenerationRequest request);

    /**
     * Where the textual-inversion embeddings that prompts may name come from (read once per request); models whose
     * prompts take no embeddings (all but the SD family) ignore it.
     */
    default void useEmbeddings(java.util.function.Supplier<dev.jdiffuse.models.textinv.EmbeddingSet> source) {
    }

    /**
     * The textual-inversion embeddings the request's prompts use, each once, in order of appearance (prompt, then
     * negative prompt): what AUTOMATIC1111's infotext records as {@code TI hashes}. Empty for models without them.
     */
    default List<dev.jdiffuse.models.textinv.TextualInversion> embeddingsUsed(GenerationRequest request) {
        return List.of();
    }

    /**
     * Runs the request; throws {@link InvalidRequestException} for a request {@link #check} refuses,
     * {@link GenerationException} when the engine fails, and
     * {@link java.util.concurrent.CancellationException} if the listener cancels.
     */
    GenerationResult generate(GenerationRequest request, GenerationListener listener);

    /**
     * Where concurrent requests on this model share denoiser forwards: a worker {@linkplain StepBatcher#join joins} it
     * on the thread that calls {@link #generate}. Null when this pipeline runs each request alone.
     */
    default StepBatcher stepBatcher() {
        return null;
    }

    @Override
    void close();
}
