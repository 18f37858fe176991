package dev.jdiffuse.server.api;

import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.samplers.Samplers;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The samplers and schedules the API accepts: the names come from the sampler registry ({@link Samplers#names()})
 * and the pipelines' schedule list ({@link SchedulerSelection#SCHEDULES}); this class adds AUTOMATIC1111's display
 * labels (for the {@code parameters} PNG text) and describes each one's parameters. Parameters are taken from the
 * model's scheduler config; requests do not set them (yet). A pipeline may still refuse a sampler that does not fit
 * its model (e.g. DDIM on a flow model), which the dry-run schedule reports as 400 {@code unsupported_combination}.
 */
public final class SamplerCatalog {

    /** A parameter with its default and range. */
    public record Param(String name, double defaultValue, double min, double max, String description) {
    }

    /** A sampler or schedule: API name, A1111 label, whether it injects fresh noise each step, parameters. */
    public record Entry(String name, String label, boolean stochastic, List<Param> parameters) {
    }

    private static final Map<String, String> SAMPLER_LABELS = Map.of("ddpm", "DDPM", "ddim", "DDIM", "euler", "Euler",
            "euler_ancestral", "Euler a", "heun", "Heun", "dpmpp_2m", "DPM++ 2M", "unipc", "UniPC", "lcm", "LCM",
            "edm_euler", "Euler EDM", "flow_euler", "Euler Flow");
    private static final Map<String, List<Param>> SAMPLER_PARAMS = Map.of(
            "ddim", List.of(new Param("eta", 0.0, 0.0, 1.0, "DDIM eta (0 = deterministic)")),
            "lcm", List.of(new Param("timestep_scaling", 10.0, 0.0, 100.0,
                    "consistency boundary condition scaling (model config)")),
            "dpmpp_2m", List.of(new Param("lower_order_final", 1, 0, 1,
                    "first-order last step below 15 steps (model config)")));
    private static final List<String> STOCHASTIC = List.of("ddpm", "euler_ancestral", "lcm");
    private static final Map<String, String> SCHEDULE_LABELS = Map.of("default", "Automatic", "karras", "Karras",
            "exponential", "Exponential", "leading", "Leading", "linspace", "Linspace", "trailing", "Trailing");
    private static final Map<String, List<Param>> SCHEDULE_PARAMS = Map.of(
            "karras", List.of(new Param("rho", 7.0, 1.0, 20.0, "Karras et al. 2022 eq. 5 rho")));

    public static final List<Entry> SAMPLERS = Samplers.names().stream()
            .map(n -> new Entry(n, SAMPLER_LABELS.getOrDefault(n, n), STOCHASTIC.contains(n),
                    SAMPLER_PARAMS.getOrDefault(n, List.of())))
            .toList();

    public static final List<Entry> SCHEDULES = SchedulerSelection.SCHEDULES.stream()
            .map(n -> new Entry(n, SCHEDULE_LABELS.getOrDefault(n, n), false,
                    SCHEDULE_PARAMS.getOrDefault(n, List.of())))
            .toList();

    private SamplerCatalog() {
    }

    public static Optional<Entry> sampler(String name) {
        return SAMPLERS.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    public static Optional<Entry> schedule(String name) {
        return SCHEDULES.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    /** The A1111 label of a sampler name, or the name itself when unknown. */
    public static String samplerLabel(String name) {
        return sampler(name).map(Entry::label).orElse(name);
    }

    public static String scheduleLabel(String name) {
        return schedule(name).map(Entry::label).orElse(name);
    }
}
