package dev.jdiffuse.server.api;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The samplers and schedules the API accepts, with A1111's display labels (for the {@code parameters} PNG text) and
 * their tunable parameters. The one place the server lists them: when the {@code dev.jdiffuse.samplers} registry
 * exists this list is to be read from it. Names follow k-diffusion / ComfyUI ({@code dpmpp_2m}); a pipeline may still
 * refuse a sampler that does not fit its model (e.g. DDIM on a flow model), which the dry-run schedule reports.
 */
public final class SamplerCatalog {

    /** A tunable parameter with its default and range. */
    public record Param(String name, double defaultValue, double min, double max, String description) {
    }

    /** A sampler: API name, A1111 label, whether it injects fresh noise each step, parameters. */
    public record Entry(String name, String label, boolean stochastic, List<Param> parameters) {
    }

    private static final Param ETA = new Param("eta", 1.0, 0.0, 1.0, "ancestral noise amount (0 = deterministic)");
    private static final Param S_NOISE = new Param("s_noise", 1.0, 0.0, 2.0, "scale of the injected noise");
    private static final Param DDIM_ETA = new Param("eta", 0.0, 0.0, 1.0, "DDIM eta (0 = deterministic DDIM)");
    private static final Param RHO = new Param("rho", 7.0, 1.0, 20.0, "Karras et al. 2022 eq. 5 rho");

    public static final List<Entry> SAMPLERS = List.of(
            new Entry("euler", "Euler", false, List.of()),
            new Entry("euler_ancestral", "Euler a", true, List.of(ETA, S_NOISE)),
            new Entry("heun", "Heun", false, List.of()),
            new Entry("dpm_2", "DPM2", false, List.of()),
            new Entry("dpm_2_ancestral", "DPM2 a", true, List.of(ETA, S_NOISE)),
            new Entry("lms", "LMS", false, List.of(new Param("order", 4, 1, 4, "linear multistep order"))),
            new Entry("dpmpp_2s_ancestral", "DPM++ 2S a", true, List.of(ETA, S_NOISE)),
            new Entry("dpmpp_2m", "DPM++ 2M", false, List.of()),
            new Entry("dpmpp_sde", "DPM++ SDE", true, List.of(ETA, S_NOISE)),
            new Entry("dpmpp_2m_sde", "DPM++ 2M SDE", true, List.of(ETA, S_NOISE)),
            new Entry("dpmpp_3m_sde", "DPM++ 3M SDE", true, List.of(ETA, S_NOISE)),
            new Entry("ddim", "DDIM", false, List.of(DDIM_ETA)),
            new Entry("ddpm", "DDPM", true, List.of()),
            new Entry("unipc", "UniPC", false, List.of(new Param("order", 2, 1, 3, "UniPC solver order"))),
            new Entry("lcm", "LCM", true, List.of()));

    /** Schedules: API name to A1111 "Schedule type" label and parameters. */
    public static final List<Entry> SCHEDULES = List.of(
            new Entry("default", "Automatic", false, List.of()),
            new Entry("karras", "Karras", false, List.of(RHO)),
            new Entry("exponential", "Exponential", false, List.of()),
            new Entry("beta", "Beta", false, List.of(new Param("alpha", 0.6, 0.0, 10.0, "Beta distribution alpha"),
                    new Param("beta", 0.6, 0.0, 10.0, "Beta distribution beta"))),
            new Entry("sgm_uniform", "SGM Uniform", false, List.of()));

    private static final Map<String, Entry> BY_SAMPLER = index(SAMPLERS);
    private static final Map<String, Entry> BY_SCHEDULE = index(SCHEDULES);

    private SamplerCatalog() {
    }

    private static Map<String, Entry> index(List<Entry> list) {
        return list.stream().collect(java.util.stream.Collectors.toUnmodifiableMap(Entry::name, e -> e));
    }

    public static Optional<Entry> sampler(String name) {
        return Optional.ofNullable(BY_SAMPLER.get(name));
    }

    public static Optional<Entry> schedule(String name) {
        return Optional.ofNullable(BY_SCHEDULE.get(name));
    }

    /** The A1111 label of a sampler or schedule name, or the name itself when unknown. */
    public static String samplerLabel(String name) {
        return sampler(name).map(Entry::label).orElse(name);
    }

    public static String scheduleLabel(String name) {
        return schedule(name).map(Entry::label).orElse(name);
    }
}
