package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The sampling loop, written once for every {@link Sampler}: for each step of the schedule it opens a sub-manager of
 * the run's manager (which then owns every intermediate, since DJL attaches results to the receiver's manager), lets
 * the sampler take the step, tells the listener, and keeps only the new sample and what the sampler passed on
 * ({@link Step#remember}) in the run's manager.
 */
public final class SamplingLoop {

    private SamplingLoop() {
    }

    /**
     * @param x the initial sample at {@code schedule.sigma(0)} (unit noise already scaled by
     *     {@code schedule.initNoiseSigma()}); the caller's, never closed here
     * @return the sample at the last sigma, attached to {@code x}'s manager
     */
    public static NDArray run(Sampler sampler, Denoiser denoiser, NDArray x, SamplingSchedule schedule,
            Conditioning conditioning, NoiseSource noise, StepListener listener) {
        NDManager run = x.getManager();
        int n = schedule.steps();
        Step.Run shared = new Step.Run(schedule, denoiser, conditioning, noise);
        Map<String, NDArray> carried = Map.of();
        NDArray current = x;
        for (int i = 0; i < n; i++) {
            try (NDManager stepManager = run.newSubManager()) {
                if (i == 0) {
                    current.tempAttach(stepManager); // the caller's input goes back to its manager afterwards
                } else {
                    current.attach(stepManager); // the previous step's result is freed with this step
                }
                Step step = new Step(shared, i, current, carried);
                NDArray next = sampler.step(step);
                listener.onStep(i, n, step.reportedSigma(), next, step.reportedDenoised());
                carried = carryOver(step.passedOn(), carried, x, run, stepManager);
                next.attach(run);
                current = next;
            }
        }
        try (NDManager end = run.newSubManager()) {
            carried.values().forEach(a -> a.attach(end));
        }
        return current;
    }

    /** Moves what the step passed on to the run's manager and frees what the previous step passed on but this one did not. */
    private static Map<String, NDArray> carryOver(Map<String, NDArray> passedOn, Map<String, NDArray> before,
            NDArray callerInput, NDManager run, NDManager step) {
        Set<NDArray> kept = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<String, NDArray> now = new HashMap<>();
        passedOn.forEach((key, value) -> {
            NDArray v = value == callerInput ? value.duplicate() : value; // never adopt the caller's array
            v.attach(run);
            kept.add(v);
            now.put(key, v);
        });
        for (NDArray old : before.values()) {
            if (!kept.contains(old)) {
                old.attach(step);
            }
        }
        return now;
    }
}
