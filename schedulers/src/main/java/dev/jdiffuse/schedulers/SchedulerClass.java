package dev.jdiffuse.schedulers;

import java.util.Map;

/**
 * The diffusers scheduler classes whose configs and schedules this module reproduces, with the constructor defaults
 * that differ from {@link SchedulerConfig}'s common defaults (diffusers' {@code __init__} signatures; a config saved
 * by diffusers lists every field, so defaults only matter for hand-written configs).
 */
public enum SchedulerClass {
    DDPM("DDPMScheduler", Map.of("clip_sample", true, "timestep_spacing", "leading")),
    DDIM("DDIMScheduler", Map.of("clip_sample", true, "timestep_spacing", "leading")),
    /** PNDM's PLMS form ({@code skip_prk_steps=True}); its defaults are diffusers' {@code PNDMScheduler.__init__}. */
    PNDM("PNDMScheduler", Map.of("timestep_spacing", "leading", "set_alpha_to_one", false)),
    EULER("EulerDiscreteScheduler", Map.of()),
    EULER_ANCESTRAL("EulerAncestralDiscreteScheduler", Map.of()),
    LMS("LMSDiscreteScheduler", Map.of()),
    KDPM2("KDPM2DiscreteScheduler", Map.of("beta_start", 0.00085, "beta_end", 0.012)),
    KDPM2_ANCESTRAL("KDPM2AncestralDiscreteScheduler", Map.of("beta_start", 0.00085, "beta_end", 0.012)),
    HEUN("HeunDiscreteScheduler", Map.of("beta_start", 0.00085, "beta_end", 0.012)),
    DPM_SOLVER_MULTISTEP("DPMSolverMultistepScheduler", Map.of("solver_type", "midpoint")),
    UNIPC("UniPCMultistepScheduler", Map.of("solver_type", "bh2")),
    LCM("LCMScheduler", Map.of("beta_start", 0.00085, "beta_end", 0.012, "beta_schedule", "scaled_linear",
            "timestep_spacing", "leading")),
    EDM_EULER("EDMEulerScheduler", Map.of("sigma_min", 0.002, "sigma_max", 80.0)),
    FLOW_MATCH_EULER("FlowMatchEulerDiscreteScheduler", Map.of()),
    /** Heun's method on FlowMatchEuler's schedule (diffusers' class has no dynamic shifting; here it may have). */
    FLOW_MATCH_HEUN("FlowMatchHeunDiscreteScheduler", Map.of());

    private final String diffusersName;
    private final Map<String, Object> defaults;

    SchedulerClass(String diffusersName, Map<String, Object> defaults) {
        this.diffusersName = diffusersName;
        this.defaults = defaults;
    }

    /** The {@code _class_name} diffusers writes, e.g. {@code "EulerDiscreteScheduler"}. */
    public String diffusersName() {
        return diffusersName;
    }

    Map<String, Object> defaults() {
        return defaults;
    }

    /** Whether the class keeps its sample in the variance-preserving space {@code x_vp = x / sqrt(1 + sigma^2)}. */
    public boolean variancePreservingSample() {
        return switch (this) {
            case DDPM, DDIM, PNDM, DPM_SOLVER_MULTISTEP, UNIPC, LCM -> true;
            default -> false;
        };
    }

    /**
     * Whether diffusers' class takes {@code rescale_betas_zero_snr}; the others ignore it in a config (Heun, PNDM,
     * LMS, KDPM2: their betas are never rescaled), and so does {@link SchedulerConfig#of}.
     */
    public boolean hasZeroSnrOption() {
        return switch (this) {
            case DDPM, DDIM, EULER, EULER_ANCESTRAL, LCM, DPM_SOLVER_MULTISTEP, UNIPC -> true;
            default -> false;
        };
    }

    /** Whether the class samples rectified flow ({@code x = (1 - sigma) x0 + sigma eps}). */
    public boolean flowMatching() {
        return this == FLOW_MATCH_EULER || this == FLOW_MATCH_HEUN;
    }

    public static SchedulerClass fromDiffusersName(String name) {
        for (SchedulerClass c : values()) {
            if (c.diffusersName.equals(name)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unsupported scheduler class: " + name);
    }
}
