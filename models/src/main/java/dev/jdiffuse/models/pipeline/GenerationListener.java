package dev.jdiffuse.models.pipeline;

/**
 * Told of a generation's progress; called on the generating thread, so implementations must be quick (hand off to
 * another thread for I/O). Throwing {@link java.util.concurrent.CancellationException} from {@link #onStep} stops the
 * run between steps; the pipeline then frees the job's memory and rethrows it.
 */
public interface GenerationListener {

    GenerationListener NONE = new GenerationListener() { };

    /** Step {@code step} (0-based) of {@code steps} is done; the sample is now at noise level {@code sigma}. */
    default void onStep(int step, int steps, double sigma) {
    }

    /** A preview at the request's cadence. */
    default void onPreview(Preview preview) {
    }
}
