package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.util.HashMap;
import java.util.Map;

/**
 * What a {@link Sampler} sees of one step of a run: the sample {@link #x()} at {@link #sigma()}, the level
 * {@link #next()} to reach, the denoiser at this level (and at the next one, for predictor-corrector methods), fresh
 * noise, and the arrays the previous step passed on. Every array created here belongs to the step's manager and is
 * freed when the step ends, except the returned sample and what is passed on with {@link #remember}.
 */
public final class Step {

    /** What every step of one run shares. */
    record Run(SamplingSchedule schedule, Denoiser denoiser, Conditioning conditioning, NoiseSource noise) {
    }

    private final int index;
    private final NDArray x;
    private final Run run;
    private final SamplingSchedule schedule;
    private final Map<String, NDArray> previous;
    private final Map<String, NDArray> passedOn = new HashMap<>();
    private NDArray reportedDenoised;
    private double reportedSigma;

    Step(Run run, int index, NDArray x, Map<String, NDArray> previous) {
        this.run = run;
        this.schedule = run.schedule();
        this.index = index;
        this.x = x;
        this.previous = previous;
        this.reportedSigma = schedule.sigma(index + 1);
    }

    /** The sample entering this step. */
    public NDArray x() {
        return x;
    }

    /** 0-based index of this step. */
    public int index() {
        return index;
    }

    /** Number of steps in the run. */
    public int steps() {
        return schedule.steps();
    }

    public boolean isFirst() {
        return index == 0;
    }

    public boolean isLast() {
        return index == schedule.steps() - 1;
    }

    /** The noise level of {@link #x()}. */
    public double sigma() {
        return schedule.sigma(index);
    }

    /** The noise level this step ends at. */
    public double next() {
        return schedule.sigma(index + 1);
    }

    /** The noise level of step {@code i} of the run (multistep methods look back). */
    public double sigmaAt(int i) {
        return schedule.sigma(i);
    }

    /** The network's timestep at this step's level (diffusers' {@code t}). */
    public double timestep() {
        return schedule.timestepOf(index);
    }

    /** {@code D(x, sigma)}: the denoiser's x0 prediction at this step's level; the step's preview by default. */
    public NDArray denoise(NDArray sample) {
        reportedDenoised = run.denoiser().denoise(sample, new NoiseLevel(sigma(), timestep(), index, steps()),
                run.conditioning());
        return reportedDenoised;
    }

    /**
     * {@code D(x, sigma)} and the unconditional prediction it was guided from ({@link Denoiser#denoiseGuided}), for
     * CFG++ samplers; the guided one is the step's preview.
     */
    public Denoiser.Guided denoiseGuided(NDArray sample) {
        return denoiseGuidedAt(sample, sigma(), timestep());
    }

    /** {@link #denoiseGuided} at a level between the scheduled ones (conditioned as {@link #denoiseAt} is). */
    public Denoiser.Guided denoiseGuidedAt(NDArray sample, double level) {
        return denoiseGuidedAt(sample, level, schedule.timestepAt(level));
    }

    private Denoiser.Guided denoiseGuidedAt(NDArray sample, double level, double timestep) {
        Denoiser.Guided g = run.denoiser().denoiseGuided(sample, new NoiseLevel(level, timestep, index, steps()),
                run.conditioning());
        reportedDenoised = g.guided();
        return g;
    }

    /** {@code D(x, next)}: the denoiser at the level this step ends at (Heun's corrector). */
    public NDArray denoiseAtNext(NDArray sample) {
        NoiseLevel level = new NoiseLevel(next(), schedule.timestepOf(index + 1), index, steps());
        reportedDenoised = run.denoiser().denoise(sample, level, run.conditioning());
        return reportedDenoised;
    }

    /**
     * {@code D(x, level)} at a level between the scheduled ones (DPM2's midpoint {@code sqrt(s s')}, the single-step
     * DPM++ stages), conditioned on that level's timestep ({@link SamplingSchedule#timestepAt}); the step's preview.
     */
    public NDArray denoiseAt(NDArray sample, double level) {
        NoiseLevel at = new NoiseLevel(level, schedule.timestepAt(level), index, steps());
        reportedDenoised = run.denoiser().denoise(sample, at, run.conditioning());
        return reportedDenoised;
    }

    /** Fresh standard normal noise shaped like {@link #x()}; the request's stream, so the call order is the draw order. */
    public NDArray noise() {
        return run.noise().normal(x.getManager(), x.getShape());
    }

    /** Reports {@code denoised} (instead of the last denoiser output) as this step's x0 for previews. */
    public void report(NDArray denoised) {
        reportedDenoised = denoised;
    }

    /** Reports {@code denoised} at noise level {@code sigma} (a consistency model's last step lands on 0). */
    public void report(NDArray denoised, double sigma) {
        reportedDenoised = denoised;
        reportedSigma = sigma;
    }

    /** What the previous step passed on under {@code key}, or null (always null on the first step). */
    public NDArray previous(String key) {
        return previous.get(key);
    }

    /**
     * Passes {@code value} on to the next step under {@code key}. Only what is remembered again survives: a key the
     * step does not remember is freed with it. A null value passes nothing.
     */
    public void remember(String key, NDArray value) {
        if (value != null) {
            passedOn.put(key, value);
        }
    }

    Map<String, NDArray> passedOn() {
        return passedOn;
    }

    NDArray reportedDenoised() {
        return reportedDenoised;
    }

    double reportedSigma() {
        return reportedSigma;
    }
}
