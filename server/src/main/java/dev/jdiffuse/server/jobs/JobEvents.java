package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.Preview;

/**
 * What the job manager tells the streaming side. Called on the worker thread (and on HTTP threads for cancellation
 * of queued jobs): implementations must only hand off and never block.
 */
public interface JobEvents {

    JobEvents NONE = new JobEvents() { };

    /** A queued job moved closer to the front ({@code position} jobs ahead of it). */
    default void onPosition(Job job, int position) {
    }

    default void onStarted(Job job) {
    }

    /** Step {@code step} (0-based) of {@code job.totalSteps()} finished at noise level {@code sigma}. */
    default void onStep(Job job, int step, double sigma, long elapsedMillis, long etaMillis) {
    }

    default void onPreview(Job job, Preview preview) {
    }

    /** The job reached its terminal state; called exactly once per job. */
    default void onFinished(Job job) {
    }

    /** Both listeners, {@code first} then {@code second}, for every event. */
    static JobEvents both(JobEvents first, JobEvents second) {
        return new JobEvents() {
            @Override
            public void onPosition(Job job, int position) {
                first.onPosition(job, position);
                second.onPosition(job, position);
            }

            @Override
            public void onStarted(Job job) {
                first.onStarted(job);
                second.onStarted(job);
            }

            @Override
            public void onStep(Job job, int step, double sigma, long elapsedMillis, long etaMillis) {
                first.onStep(job, step, sigma, elapsedMillis, etaMillis);
                second.onStep(job, step, sigma, elapsedMillis, etaMillis);
            }

            @Override
            public void onPreview(Job job, Preview preview) {
                first.onPreview(job, preview);
                second.onPreview(job, preview);
            }

            @Override
            public void onFinished(Job job) {
                first.onFinished(job);
                second.onFinished(job);
            }
        };
    }
}
