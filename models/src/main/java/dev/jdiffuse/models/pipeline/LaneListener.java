package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.samplers.batching.Lane;

/**
 * A job's listener inside a {@link dev.jdiffuse.samplers.batching.StepBatcher} lane: once the last step is done (and
 * {@code inner} did not cancel it), the job makes no more network calls, so the lane {@linkplain Lane#leave leaves}
 * and the other jobs stop waiting for it while it decodes. Each step is reported to the lane, so that a job that
 * finishes does not wait to decode with a job that shared its last forward but has steps left.
 */
public record LaneListener(Lane lane, GenerationListener inner) implements GenerationListener {

    @Override
    public void onStep(int step, int steps, double sigma) {
        inner.onStep(step, steps, sigma);
        lane.stepped(step, steps);
        if (step == steps - 1) {
            lane.leave();
        }
    }

    @Override
    public void onPreview(Preview preview) {
        inner.onPreview(preview);
    }
}
