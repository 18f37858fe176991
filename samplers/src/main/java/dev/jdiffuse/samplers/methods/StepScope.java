package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Native memory of one sampler step: a sub-manager of the run's manager that owns the step's intermediates (the
 * denoiser's, since DJL attaches results to the receiver's manager). The sample entering the step is attached to it
 * (temporarily if it is the caller's input, for good otherwise); {@link #keep} moves what must survive the step (the
 * new sample, multistep history) back to the run's manager.
 */
final class StepScope implements AutoCloseable {

    private final NDManager run;
    private final NDManager step;

    /**
     * @param x the sample entering the step
     * @param callerOwned whether {@code x} is the caller's input (returned to its manager afterwards) rather than a
     *     sample this run produced (freed with the step)
     */
    StepScope(NDArray x, boolean callerOwned) {
        this.run = x.getManager();
        this.step = run.newSubManager();
        if (callerOwned) {
            x.tempAttach(step);
        } else {
            x.attach(step);
        }
    }

    /** Keeps {@code a} beyond this step (in the run's manager). */
    NDArray keep(NDArray a) {
        a.attach(run);
        return a;
    }

    /** Frees {@code a}, kept by an earlier step, with this one. */
    void release(NDArray a) {
        if (a != null) {
            a.attach(step);
        }
    }

    @Override
    public void close() {
        step.close();
    }
}
