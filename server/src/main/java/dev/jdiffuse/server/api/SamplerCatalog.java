package dev.jdiffuse.server.api;

import java.util.List;
import java.util.Optional;

/**
 * The samplers and schedules as the API lists them ({@code GET /v1/samplers}): a view of the samplers module's one
 * table ({@link dev.jdiffuse.samplers.SamplerCatalog}), which holds every name, label and parameter. A model may still
 * refuse a sampler of another noise space (e.g. DDIM on a flow model): its {@code check} answers with a field error.
 */
public final class SamplerCatalog {

    /** A parameter with its default and range. */
    public record Param(String name, double defaultValue, double min, double max, String description) {
    }

    /** A sampler or schedule: API name, A1111 label, whether it injects fresh noise each step, parameters. */
    public record Entry(String name, String label, boolean stochastic, List<Param> parameters) {
    }

    public static final List<Entry> SAMPLERS = dev.jdiffuse.samplers.SamplerCatalog.SAMPLERS.stream()
            .map(e -> new Entry(e.name(), e.label(), e.stochastic(), params(e.parameters())))
            .toList();

    public static final List<Entry> SCHEDULES = dev.jdiffuse.samplers.SamplerCatalog.SCHEDULES.stream()
            .map(s -> new Entry(s.name(), s.label(), false, params(s.parameters())))
            .toList();

    private SamplerCatalog() {
    }

    private static List<Param> params(List<dev.jdiffuse.samplers.SamplerCatalog.Param> ps) {
        return ps.stream().map(p -> new Param(p.name(), p.defaultValue(), p.min(), p.max(), p.description())).toList();
    }

    public static Optional<Entry> sampler(String name) {
        return SAMPLERS.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    public static Optional<Entry> schedule(String name) {
        return SCHEDULES.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    /** The A1111 label of a sampler name, or the name itself when unknown. */
    public static String samplerLabel(String name) {
        return dev.jdiffuse.samplers.SamplerCatalog.samplerLabel(name);
    }

    public static String scheduleLabel(String name) {
        return dev.jdiffuse.samplers.SamplerCatalog.scheduleLabel(name);
    }
}
