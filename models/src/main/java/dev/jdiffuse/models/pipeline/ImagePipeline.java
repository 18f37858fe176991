package dev.jdiffuse.models.pipeline;

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

    /** Family: "sd1", "sd2", "sdxl", "sd3", "dit". */
    String family();

    /** Defaults for omitted request fields: sampler, schedule, steps, size, guidance. */
    PipelineDefaults defaults();

    /** Names of the ControlNets this pipeline can apply (empty if none). */
    List<String> controlnets();

    /** Pixels per latent pixel (8 for SD/SDXL/SD3). Sizes must be multiples of it. */
    int pixelsPerLatent();

    /** The exact sigmas and timesteps {@code request} would use (dry run). */
    SamplingSchedule schedule(GenerationRequest request);

    /** Runs the request; throws {@link java.util.concurrent.CancellationException} if the listener cancels. */
    GenerationResult generate(GenerationRequest request, GenerationListener listener);

    @Override
    void close();
}
