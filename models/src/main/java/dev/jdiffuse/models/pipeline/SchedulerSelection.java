package dev.jdiffuse.models.pipeline;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.SamplerOptions;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Resolves a request's sampler and schedule against a model's {@code scheduler_config.json}, the way diffusers swaps
 * schedulers ({@code NewScheduler.from_config(pipe.scheduler.config)}): the betas, prediction type and spacing come
 * from the model, the algorithm from the request ({@link SamplerCatalog}). A schedule name overrides how sigmas are
 * spaced. Refusals are {@link FieldError}s naming {@code sampler} or {@code schedule}.
 */
public final class SchedulerSelection {

    /** diffusers writes Python's {@code NaN}/{@code -Infinity} literals into its configs. */
    private static final System.Logger LOG = System.getLogger(SchedulerSelection.class.getName());
    private static final ObjectMapper JSON =
            new ObjectMapper().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS.mappedFeature());
    private static final TypeReference<Map<String, Object>> OBJECT = new TypeReference<>() { };

    private final Map<String, Object> raw;
    private final SchedulerConfig base;
    /**
     * The sampler standing for a configured class no sampler reproduces (DPM-Solver SDE: {@code dpmpp_sde}, which
     * runs on Euler's schedule), or null where the class's own entry is the default.
     */
    private final String nearestSampler;
    /** The model family's Align Your Steps levels, or null (the schedule is refused). */
    private final double[] alignYourSteps;

    /**
     * @param raw the config's JSON object as a map
     * @param schedulerClass the class, or null to take it from the config's {@code _class_name}
     */
    public SchedulerSelection(Map<String, Object> raw, SchedulerClass schedulerClass) {
        this.raw = Map.copyOf(withoutNulls(raw));
        this.base = SchedulerConfig.of(raw, schedulerClass != null ? schedulerClass : classOf(raw));
        Object name = raw.get("_class_name");
        this.nearestSampler = schedulerClass == null && name != null && !SamplerCatalog.isExact(name.toString())
                ? SamplerCatalog.forDiffusersClass(name.toString()).name() : null;
        this.alignYourSteps = null;
    }

    private SchedulerSelection(SchedulerSelection s, double[] alignYourSteps) {
        this.raw = s.raw;
        this.base = s.base;
        this.nearestSampler = s.nearestSampler;
        this.alignYourSteps = alignYourSteps == null ? null : alignYourSteps.clone();
    }

    /** This config for a model family with Align Your Steps levels ({@code dev.jdiffuse.schedulers.AlignYourSteps}). */
    public SchedulerSelection withAlignYourSteps(double[] levels) {
        return new SchedulerSelection(this, levels);
    }

    /**
     * The config's {@code _class_name}, or for a class no sampler reproduces (e.g. DEIS) the nearest one's, with a log
     * line: a model never fails to load for its scheduler. PNDM runs as PLMS ({@code skip_prk_steps=True}, Stable
     * Diffusion 1.x's published config); a config asking for the Runge-Kutta warm-up ({@code skip_prk_steps} false or
     * absent, diffusers' default) gets PLMS too, with a log line.
     */
    private static SchedulerClass classOf(Map<String, Object> raw) {
        Object name = raw.get("_class_name");
        if (name == null) {
            throw new IllegalArgumentException("scheduler config has no _class_name and no class was given");
        }
        SamplerCatalog.Entry entry = SamplerCatalog.forDiffusersClass(name.toString());
        if (!SamplerCatalog.isExact(name.toString())) {
            LOG.log(System.Logger.Level.INFO, "scheduler class {0} is not implemented; the model's default sampler is "
                    + "the nearest one, {1} ({2})", name, entry.name(), entry.schedulerClass().diffusersName());
        }
        if (entry.schedulerClass() == SchedulerClass.PNDM && !Boolean.TRUE.equals(raw.get("skip_prk_steps"))) {
            LOG.log(System.Logger.Level.INFO, "PNDMScheduler without skip_prk_steps: its Runge-Kutta warm-up steps are "
                    + "not implemented; the model's default sampler is PLMS (pndm), as with skip_prk_steps=true");
        }
        return entry.schedulerClass();
    }

    /** From config JSON text; {@code schedulerClass} as in the map constructor. */
    public SchedulerSelection(String json, SchedulerClass schedulerClass) {
        this(parse(json), schedulerClass);
    }

    public static SchedulerSelection read(Path schedulerConfigJson) {
        return read(schedulerConfigJson, null);
    }

    /** Reads a config whose class is given separately (a saved {@code scheduler.config} lacks {@code _class_name}). */
    public static SchedulerSelection read(Path schedulerConfigJson, SchedulerClass schedulerClass) {
        try {
            return new SchedulerSelection(JSON.readValue(schedulerConfigJson.toFile(), OBJECT),
                    schedulerClass);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + schedulerConfigJson, e);
        }
    }

    /** A config bundled in the jar ({@code resource} is a class-path resource name), e.g. a family's default. */
    public static SchedulerSelection resource(String resource) {
        try (java.io.InputStream in = SchedulerSelection.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + resource);
            }
            return new SchedulerSelection(JSON.readValue(in, OBJECT), null);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
    }

    private static Map<String, Object> parse(String json) {
        try {
            return JSON.readValue(json, OBJECT);
        } catch (IOException e) {
            throw new UncheckedIOException("bad scheduler config JSON", e);
        }
    }

    /** diffusers' {@code None} means "the default": dropped so the config's defaults apply. */
    private static Map<String, Object> withoutNulls(Map<String, Object> m) {
        Map<String, Object> out = new HashMap<>();
        m.forEach((k, v) -> {
            if (v != null) {
                out.put(k, v);
            }
        });
        return out;
    }

    /** The model's own scheduler config. */
    public SchedulerConfig base() {
        return base;
    }

    /** The sampler name that reproduces the model's configured scheduler (or stands nearest to it). */
    public String defaultSampler() {
        return nearestSampler != null ? nearestSampler
                : SamplerCatalog.forSchedulerConfig(base.schedulerClass(), this::setting).name();
    }

    /** The noise space of the model (from its configured scheduler); only samplers of this space apply. */
    public NoiseSpace space() {
        return SamplerCatalog.forSchedulerClass(base.schedulerClass()).space();
    }

    /** Whether the model is a rectified-flow model (then only flow samplers apply). */
    public boolean isFlow() {
        return space() == NoiseSpace.FLOW;
    }

    /** Samplers usable with this model. */
    public List<String> samplers() {
        return SamplerCatalog.of(space()).stream().map(SamplerCatalog.Entry::name).toList();
    }

    /** A resolved choice: the config the schedule was computed from, the sampler, and the visited sigmas. */
    public record Resolved(String samplerName, String scheduleName, SchedulerConfig config, Sampler sampler,
            SamplingSchedule schedule) {
    }

    /**
     * What is wrong with the choice for this model (empty when it applies).
     *
     * @param sampler a sampler name or null for the model's default
     * @param schedule a schedule name or null/"default"
     */
    public List<FieldError> check(String sampler, String schedule) {
        List<FieldError> errors = new ArrayList<>();
        String name = sampler == null ? defaultSampler() : sampler;
        var entry = SamplerCatalog.sampler(name);
        if (entry.isEmpty()) {
            errors.add(new FieldError("sampler", "unknown_sampler",
                    "unknown sampler '" + name + "'; known: " + SamplerCatalog.names()));
        } else if (entry.get().space() != space()) {
            errors.add(new FieldError("sampler", "unsupported_sampler", "sampler '" + name + "' does not apply to "
                    + "this model (a " + space().name().toLowerCase() + " model); usable: " + samplers()));
        }
        String sched = schedule == null ? "default" : schedule;
        var scheduleEntry = SamplerCatalog.schedule(sched);
        if (scheduleEntry.isEmpty()) {
            errors.add(new FieldError("schedule", "unknown_schedule", "unknown schedule '" + sched + "'; known: "
                    + SamplerCatalog.SCHEDULES.stream().map(SamplerCatalog.Schedule::name).toList()));
        } else if (entry.isPresent() && !scheduleEntry.get().appliesTo(entry.get())) {
            errors.add(new FieldError("schedule", "unsupported_combination", "schedule '" + sched
                    + "' needs a sigma-spaced sampler (" + SamplerCatalog.SAMPLERS.stream()
                    .filter(SamplerCatalog.Entry::sigmaSpaced).map(SamplerCatalog.Entry::name).toList()
                    + "), not " + name));
        }
        return errors;
    }

    /**
     * {@link #check(String, String)}, and whether the schedule has levels for this model (Align Your Steps: an error
     * naming {@code schedule}) and can space {@code steps} of them (the beta schedule cannot put more steps than its
     * rounded quantiles have distinct timesteps: an error naming {@code steps}).
     */
    public List<FieldError> check(String sampler, String schedule, int steps) {
        List<FieldError> errors = check(sampler, schedule);
        SamplerCatalog.Schedule s = SamplerCatalog.schedule(schedule == null ? "default" : schedule).orElse(null);
        if (errors.isEmpty() && s != null && s.spacing() != null && steps >= 1) {
            try {
                // mu only moves a flow model's levels, not which training timesteps they fall on
                DiffusersSchedules.spaced(base, steps, s.spacing(), alignYourSteps, 0.0);
            } catch (IllegalArgumentException e) {
                errors.add(FieldError.invalid("steps", e.getMessage()));
            } catch (UnsupportedOperationException e) {
                errors.add(new FieldError("schedule", "unsupported_combination", e.getMessage()));
            }
        }
        return errors;
    }

    /**
     * @param sampler a sampler name or null for the model's default
     * @param schedule a schedule name or null/"default"
     * @param mu dynamic-shift parameter for flow models with {@code use_dynamic_shifting}, else ignored
     * @throws InvalidRequestException naming the sampler or schedule when they do not fit this model
     */
    public Resolved resolve(String sampler, String schedule, int steps, double mu) {
        return resolve(sampler, schedule, steps, mu, null);
    }

    /**
     * {@link #resolve(String, String, int, double)} where the pipeline passes its own unshifted sigmas to a
     * flow-matching scheduler (diffusers' {@code set_timesteps(sigmas=...)}, as FLUX does); null for the scheduler's
     * own spacing. Ignored by other scheduler classes.
     */
    public Resolved resolve(String sampler, String schedule, int steps, double mu, double[] flowSigmas) {
        List<FieldError> errors = check(sampler, schedule, steps);
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        SamplerCatalog.Entry entry = SamplerCatalog.sampler(sampler == null ? defaultSampler() : sampler).orElseThrow();
        SamplerCatalog.Schedule spacing = SamplerCatalog.schedule(schedule == null ? "default" : schedule).orElseThrow();
        SchedulerConfig cfg = configFor(entry, spacing);
        SamplingSchedule s;
        if (spacing.spacing() != null) {
            s = DiffusersSchedules.spaced(cfg, steps, spacing.spacing(), alignYourSteps, mu); // checked above
        } else if (flowSigmas != null && cfg.schedulerClass().flowMatching()) {
            s = DiffusersSchedules.flowFromSigmas(cfg, flowSigmas, mu);
        } else {
            s = cfg.useDynamicShifting() ? DiffusersSchedules.of(cfg, steps, mu) : DiffusersSchedules.of(cfg, steps);
        }
        return new Resolved(entry.name(), spacing.name(), cfg, entry.create(SamplerOptions.of(cfg)), s);
    }

    /** The model's setting of {@code key}, its class's default where the config leaves it out. */
    private Object setting(String key) {
        return SchedulerConfig.setting(raw, base.schedulerClass(), key);
    }

    /** The model's config as the chosen sampler's scheduler class, with the schedule's overrides. */
    private SchedulerConfig configFor(SamplerCatalog.Entry entry, SamplerCatalog.Schedule spacing) {
        SchedulerClass cls = entry.schedulerClass();
        if (cls == SchedulerClass.EULER_ANCESTRAL && spacing.configOverrides().containsValue(Boolean.TRUE)) {
            // diffusers' Euler ancestral has no Karras/exponential option; Euler's class computes those levels, and the
            // ancestral update runs on them (A1111's "Euler a" with a Karras schedule)
            cls = SchedulerClass.EULER;
        }
        boolean asConfigured = entry.configOverrides().entrySet().stream()
                .allMatch(o -> o.getValue().equals(setting(o.getKey())));
        if (cls == base.schedulerClass() && spacing.configOverrides().isEmpty()
                && (asConfigured || entry.configOverrides().isEmpty())) {
            return base;
        }
        Map<String, Object> config = new HashMap<>(raw);
        config.put("_class_name", cls.diffusersName());
        config.putAll(entry.configOverrides());
        config.putAll(spacing.configOverrides());
        return SchedulerConfig.of(config, cls);
    }
}
