package dev.jdiffuse.server.jobs;

import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a request costs on the device in use, measured: for each model (and, for a model not run yet, its family)
 * a running average of seconds per unit of work, a unit being one megapixel of one image for one sampler step.
 * Each succeeded job updates it from its sampling time (or run time); the estimate of a request is
 * {@code megapixels x steps x batch x seconds-per-unit}. Before a model or its family has run once there is no
 * estimate: the running job's deadline still bounds it.
 */
public final class CostModel {

    /** Weight of the newest measurement in the running average. */
    static final double ALPHA = 0.3;

    private final Map<String, Double> byModel = new ConcurrentHashMap<>();
    private final Map<String, Double> byFamily = new ConcurrentHashMap<>();

    /** Work units of a request: megapixels per image x steps run x images. */
    public static double units(int width, int height, int steps, int batch) {
        return width * (double) height / 1e6 * steps * batch;
    }

    /** Records a succeeded job's measured time. */
    public void ended(Job job) {
        if (job.status() != JobStatus.SUCCEEDED) {
            return;
        }
        GenerationParameters p = job.parameters();
        Job.Timings t = job.outcome().map(Job.Outcome::timings).orElse(null);
        long millis = t != null && t.denoiseMillis() > 0 ? t.denoiseMillis() : job.runMillis(System.nanoTime());
        double units = units(p.width(), p.height(), job.totalSteps(), p.batchSize());
        if (units <= 0 || millis <= 0) {
            return;
        }
        double perUnit = millis / 1000.0 / units;
        byModel.merge(p.model(), perUnit, (old, now) -> (1 - ALPHA) * old + ALPHA * now);
        if (p.modelFamily() != null) {
            byFamily.merge(p.modelFamily(), perUnit, (old, now) -> (1 - ALPHA) * old + ALPHA * now);
        }
    }

    /** Measured seconds per unit for the model, else for its family, else empty. */
    public OptionalDouble secondsPerUnit(String model, String family) {
        Double v = byModel.get(model);
        if (v == null && family != null) {
            v = byFamily.get(family);
        }
        return v == null ? OptionalDouble.empty() : OptionalDouble.of(v);
    }
}
