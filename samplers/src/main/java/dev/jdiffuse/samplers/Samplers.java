package dev.jdiffuse.samplers;

import dev.jdiffuse.samplers.methods.Ddim;
import dev.jdiffuse.samplers.methods.Ddpm;
import dev.jdiffuse.samplers.methods.DpmPp2m;
import dev.jdiffuse.samplers.methods.Euler;
import dev.jdiffuse.samplers.methods.EulerAncestral;
import dev.jdiffuse.samplers.methods.Heun;
import dev.jdiffuse.samplers.methods.Lcm;
import dev.jdiffuse.samplers.methods.UniPc;
import dev.jdiffuse.schedulers.SchedulerClass;

import java.util.List;

/** The sampler registry: stable names (API, image metadata) to implementations. */
public final class Samplers {

    private static final List<String> NAMES = List.of("ddpm", "ddim", "euler", "euler_ancestral", "heun", "dpmpp_2m",
            "unipc", "lcm", "edm_euler", "flow_euler");

    private Samplers() {
    }

    /** Every registered name, in a stable order. */
    public static List<String> names() {
        return NAMES;
    }

    public static Sampler byName(String name) {
        return byName(name, SamplerOptions.DEFAULTS);
    }

    public static Sampler byName(String name, SamplerOptions o) {
        return switch (name) {
            case "ddpm" -> new Ddpm(o.clipSampleRange());
            case "ddim" -> new Ddim(o.eta(), o.clipSampleRange());
            case "euler", "edm_euler", "flow_euler" -> new Euler(name);
            case "euler_ancestral" -> new EulerAncestral();
            case "heun" -> new Heun(o.clipSampleRange());
            case "dpmpp_2m" -> new DpmPp2m(o.lowerOrderFinal(), o.eulerAtFinal());
            case "unipc" -> new UniPc();
            case "lcm" -> new Lcm(o.timestepScaling(), o.clipSampleRange());
            default -> throw new IllegalArgumentException("unknown sampler '" + name + "'; known: " + NAMES);
        };
    }

    /** The sampler that reproduces a diffusers scheduler class. */
    public static String nameOf(SchedulerClass c) {
        return switch (c) {
            case DDPM -> "ddpm";
            case DDIM -> "ddim";
            case EULER -> "euler";
            case EULER_ANCESTRAL -> "euler_ancestral";
            case HEUN -> "heun";
            case DPM_SOLVER_MULTISTEP -> "dpmpp_2m";
            case UNIPC -> "unipc";
            case LCM -> "lcm";
            case EDM_EULER -> "edm_euler";
            case FLOW_MATCH_EULER -> "flow_euler";
        };
    }
}
