package dev.jdiffuse.models.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.SamplerOptions;
import dev.jdiffuse.samplers.Samplers;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Resolves a request's sampler and schedule against a model's {@code scheduler_config.json}, the way diffusers swaps
 * schedulers ({@code NewScheduler.from_config(pipe.scheduler.config)}): the betas, prediction type and spacing come
 * from the model, the algorithm from the request. A schedule name overrides how sigmas are spaced.
 */
public final class SchedulerSelection {

    /** Schedule names a request may give; "default" keeps the model's config. */
    public static final List<String> SCHEDULES = List.of("default", "karras", "exponential", "leading", "linspace",
            "trailing");

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, SchedulerClass> CLASS_OF = Map.of("ddpm", SchedulerClass.DDPM, "ddim",
            SchedulerClass.DDIM, "euler", SchedulerClass.EULER, "euler_ancestral", SchedulerClass.EULER_ANCESTRAL,
            "heun", SchedulerClass.HEUN, "dpmpp_2m", SchedulerClass.DPM_SOLVER_MULTISTEP, "unipc",
            SchedulerClass.UNIPC, "lcm", SchedulerClass.LCM, "edm_euler", SchedulerClass.EDM_EULER, "flow_euler",
            SchedulerClass.FLOW_MATCH_EULER);

    private final String baseJson;
    private final SchedulerConfig base;

    public SchedulerSelection(String schedulerConfigJson) {
        this.baseJson = schedulerConfigJson;
        this.base = SchedulerConfig.parse(schedulerConfigJson, null);
    }

    public static SchedulerSelection read(Path schedulerConfigJson) {
        try {
            return new SchedulerSelection(Files.readString(schedulerConfigJson));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + schedulerConfigJson, e);
        }
    }

    /** The model's own scheduler config. */
    public SchedulerConfig base() {
        return base;
    }

    /** The sampler name that reproduces the model's configured scheduler. */
    public String defaultSampler() {
        return Samplers.nameOf(base.schedulerClass());
    }

    /** Whether the model is a rectified-flow model (then only flow samplers apply). */
    public boolean isFlow() {
        return base.schedulerClass() == SchedulerClass.FLOW_MATCH_EULER;
    }

    /** Samplers usable with this model. */
    public List<String> samplers() {
        if (isFlow()) {
            return List.of("flow_euler");
        }
        if (base.schedulerClass() == SchedulerClass.EDM_EULER) {
            return List.of("edm_euler");
        }
        return Samplers.names().stream().filter(n -> !n.equals("edm_euler") && !n.equals("flow_euler")).toList();
    }

    /** A resolved choice: the config the schedule was computed from, the sampler, and the visited sigmas. */
    public record Resolved(String samplerName, String scheduleName, SchedulerConfig config, Sampler sampler,
            SamplingSchedule schedule) {
    }

    /**
     * @param sampler a sampler name or null for the model's default
     * @param schedule a schedule name or null/"default"
     * @param mu dynamic-shift parameter for flow models with {@code use_dynamic_shifting}, else ignored
     * @throws IllegalArgumentException naming the sampler or schedule when they do not fit this model
     */
    public Resolved resolve(String sampler, String schedule, int steps, double mu) {
        String name = sampler == null ? defaultSampler() : sampler;
        if (!samplers().contains(name)) {
            throw new IllegalArgumentException("sampler '" + name + "' does not apply to this model; usable: "
                    + samplers());
        }
        String sched = schedule == null ? "default" : schedule;
        if (!SCHEDULES.contains(sched)) {
            throw new IllegalArgumentException("unknown schedule '" + sched + "'; known: " + SCHEDULES);
        }
        SchedulerClass cls = CLASS_OF.get(name);
        SchedulerConfig cfg = configFor(cls, sched);
        SamplingSchedule s = cfg.useDynamicShifting() ? DiffusersSchedules.of(cfg, steps, mu)
                : DiffusersSchedules.of(cfg, steps);
        return new Resolved(name, sched, cfg, Samplers.byName(name, SamplerOptions.of(cfg)), s);
    }

    private SchedulerConfig configFor(SchedulerClass cls, String schedule) {
        if (cls == base.schedulerClass() && schedule.equals("default")) {
            return base;
        }
        ObjectNode node;
        try {
            node = (ObjectNode) JSON.readTree(baseJson);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        node.put("_class_name", cls.diffusersName());
        switch (schedule) {
            case "karras", "exponential" -> {
                boolean sigmaSpaced = switch (cls) {
                    case EULER, EULER_ANCESTRAL, HEUN, DPM_SOLVER_MULTISTEP, UNIPC -> true;
                    default -> false;
                };
                if (!sigmaSpaced) {
                    throw new IllegalArgumentException("schedule '" + schedule + "' needs a sigma-spaced sampler"
                            + " (euler, euler_ancestral, heun, dpmpp_2m, unipc), not " + Samplers.nameOf(cls));
                }
                node.put("use_karras_sigmas", schedule.equals("karras"));
                node.put("use_exponential_sigmas", schedule.equals("exponential"));
            }
            case "leading", "linspace", "trailing" -> node.put("timestep_spacing", schedule);
            default -> { }
        }
        return SchedulerConfig.parse(node.toString(), cls);
    }
}
