package dev.jdiffuse.samplers;

import dev.jdiffuse.schedulers.SchedulerConfig;

/**
 * Per-run knobs of the samplers that have them; the rest ignore them.
 *
 * @param eta DDIM stochasticity (0 deterministic, 1 DDPM-like)
 * @param clipSampleRange x0 clipping bound for DDPM/DDIM/LCM/Heun ({@code clip_sample}), or
 *     {@code Double.POSITIVE_INFINITY} for none
 * @param timestepScaling LCM's {@code timestep_scaling} of its consistency boundary condition
 * @param lowerOrderFinal DPM-Solver++(2M): first-order last step under 15 steps ({@code lower_order_final})
 * @param eulerAtFinal DPM-Solver++(2M): always first-order last step ({@code euler_at_final})
 */
public record SamplerOptions(double eta, double clipSampleRange, double timestepScaling, boolean lowerOrderFinal,
        boolean eulerAtFinal) {

    /** No clipping, deterministic DDIM, diffusers' other defaults. */
    public static final SamplerOptions DEFAULTS =
            new SamplerOptions(0.0, Double.POSITIVE_INFINITY, 10.0, true, false);

    /**
     * The options a diffusers scheduler config implies (eta stays 0: it is a call argument in diffusers). Rejects the
     * variants the samplers do not implement (DPM-Solver other than 2M++ or SDE-2M++ midpoint, UniPC other than order 2,
     * learned DDPM variances).
     */
    public static SamplerOptions of(SchedulerConfig c) {
        boolean unsupported = switch (c.schedulerClass()) {
            case DPM_SOLVER_MULTISTEP -> c.solverOrder() != 2 || !("dpmsolver++".equals(c.algorithmType())
                    || "sde-dpmsolver++".equals(c.algorithmType())) || !"midpoint".equals(c.solverType());
            case UNIPC -> c.solverOrder() != 2 || !("bh2".equals(c.solverType()) || "bh1".equals(c.solverType()));
            case DDPM -> !"fixed_small".equals(c.varianceType());
            default -> false;
        };
        if (unsupported) {
            throw new IllegalArgumentException("unsupported " + c.schedulerClass().diffusersName() + " variant: " + c);
        }
        double clip = c.clipSample() ? c.clipSampleRange() : Double.POSITIVE_INFINITY;
        return new SamplerOptions(0.0, clip, c.timestepScaling(), c.lowerOrderFinal(), c.eulerAtFinal());
    }

    public SamplerOptions withEta(double newEta) {
        return new SamplerOptions(newEta, clipSampleRange, timestepScaling, lowerOrderFinal, eulerAtFinal);
    }
}
