package dev.jdiffuse.server.sdapi;

import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import dev.jdiffuse.server.images.A1111LevelDrop;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * AUTOMATIC1111's sampler and scheduler names mapped onto {@link SamplerCatalog}. A sampler is matched by its A1111
 * label ({@code Entry.label}: "Euler a", "DPM++ 2M", ...), A1111's {@code k_} aliases or the native name, ignoring
 * case; on a flow model (FLUX, SD3) a name runs its method's {@code flow_} entry ("DPM++ 2M" is
 * {@code flow_dpmpp_2m}, as Forge runs its k-diffusion samplers there), on an EDM model its {@code edm_} entry
 * ({@code edm_euler}, {@code edm_dpmpp_2m}, ...: the model's own levels, so "Automatic" keeps them and an explicit
 * respacing scheduler is refused); a method without such an entry (DDIM, PLMS, UniPC, LCM, DDPM) is refused there.
 * The pre-1.9 combined names ("DPM++ 2M
 * Karras") carry their scheduler, as A1111's {@code get_sampler_and_scheduler} splits them.
 *
 * <p>Schedulers (A1111 {@code modules/sd_schedulers.py}): {@code automatic} is the sampler's own (see below) or keeps
 * the model's configured spacing,
 * {@code karras} and {@code exponential} are the same sigma spacings, {@code uniform} (k-diffusion's
 * {@code get_sigmas}, timesteps evenly spaced from the last to 0) is diffusers' {@code linspace}, {@code sgm_uniform}
 * is {@code trailing} and A1111's {@code ddim} scheduler ({@code range(0, T, T // steps) + 1}) is {@code leading};
 * Forge's {@code simple} (the model's sigmas at even strides) is the model's own spacing on flow models and
 * {@code trailing} elsewhere. {@code polyexponential} (rho 1) is the native one; {@code kl_optimal} is the native one,
 * which ends with a step to 0 as ComfyUI's does (A1111's takes {@code n + 1} levels and stops at the smallest sigma);
 * {@code beta} is the native {@code beta_sigmas} (A1111's {@code beta_scheduler}: the quantiles in sigma space over the
 * trained range; Forge's and ComfyUI's rounded timestep quantiles are the native {@code beta}), {@code normal}
 * (timesteps evenly spaced from the first to the last, k-diffusion's {@code sigma_to_t}/{@code t_to_sigma}) is
 * {@code linspace}, and {@code align_your_steps} is the native one (SD 1.5's levels for non-XL models, SDXL's for XL).
 * "Automatic" (or no scheduler) is the sampler's own schedule where A1111 1.9+ gives it one ({@link #AUTOMATIC}), else
 * the model's configured one.
 *
 * <p>DPM2, DPM2 a and DPM++ 3M SDE (in every space, as Forge's {@code get_sigmas}) run on the levels of one step more
 * without the next-to-last one: the options of their {@code samplers_k_diffusion} entries carry
 * {@code discard_next_to_last_sigma}, and {@code KDiffusionSampler.get_sigmas} computes {@code steps + 1} levels and
 * drops that one; the native job's {@code discard_penultimate_sigma} ({@link Choice#discardPenultimateSigma},
 * {@link A1111LevelDrop}).
 */
final class A1111Samplers {

    /**
     * A sampler and schedule in the native catalogue's names, and whether A1111 drops the next-to-last level for the
     * sampler.
     */
    record Choice(String sampler, String schedule, boolean discardPenultimateSigma) {

        /** A sampler A1111 runs on the whole schedule. */
        Choice(String sampler, String schedule) {
            this(sampler, schedule, false);
        }
    }


    /** One A1111 scheduler: its API name, label and the native schedule it runs (null: depends on the space). */
    record Scheduler(String name, String label, String schedule, List<String> aliases) {
    }

    static final List<Scheduler> SCHEDULERS = List.of(
            new Scheduler("automatic", "Automatic", "default", List.of()),
            new Scheduler("uniform", "Uniform", "linspace", List.of()),
            new Scheduler("karras", "Karras", "karras", List.of()),
            new Scheduler("exponential", "Exponential", "exponential", List.of()),
            new Scheduler("sgm_uniform", "SGM Uniform", "trailing", List.of("SGMUniform")),
            new Scheduler("simple", "Simple", null, List.of()),
            new Scheduler("ddim", "DDIM", "leading", List.of()),
            new Scheduler("kl_optimal", "KL Optimal", "kl_optimal", List.of()),
            new Scheduler("polyexponential", "Polyexponential", "polyexponential", List.of()),
            new Scheduler("beta", "Beta", "beta_sigmas", List.of()),
            new Scheduler("normal", "Normal", "linspace", List.of()),
            new Scheduler("align_your_steps", "Align Your Steps", "align_your_steps", List.of()));

    /** A1111's aliases ({@code modules/sd_samplers_kdiffusion.py}, {@code sd_samplers_timesteps.py}). */
    private static final Map<String, List<String>> ALIASES = Map.ofEntries(
            Map.entry("euler", List.of("k_euler")), Map.entry("euler_ancestral", List.of("k_euler_a",
                    "k_euler_ancestral")), Map.entry("heun", List.of("k_heun")),
            Map.entry("lms", List.of("k_lms")), Map.entry("dpm_2", List.of("k_dpm_2")),
            Map.entry("dpm_2_ancestral", List.of("k_dpm_2_a")), Map.entry("dpmpp_2s_ancestral", List.of("k_dpmpp_2s_a")),
            Map.entry("dpmpp_sde", List.of("k_dpmpp_sde")), Map.entry("dpmpp_2m", List.of("k_dpmpp_2m")),
            Map.entry("dpmpp_2m_sde", List.of("k_dpmpp_2m_sde")), Map.entry("dpmpp_3m_sde", List.of("k_dpmpp_3m_sde")),
            Map.entry("ddim", List.of()), Map.entry("pndm", List.of("plms")), Map.entry("unipc", List.of()),
            Map.entry("lcm", List.of("k_lcm")), Map.entry("ddpm", List.of()));

    /**
     * What "Automatic" means for a sampler in A1111 1.9+: the {@code scheduler} option of its entry in
     * {@code sd_samplers_kdiffusion.py} (Karras for DPM++ 2M, DPM++ SDE, DPM++ 2S a, DPM2 and DPM2 a; exponential for
     * the DPM++ 2M SDE, 2M SDE Heun and 3M SDE); samplers without one keep the model's configured schedule.
     */
    private static final Map<String, String> AUTOMATIC = Map.of("dpmpp_2m", "karras", "dpmpp_sde", "karras",
            "dpmpp_2s_ancestral", "karras", "dpm_2", "karras", "dpm_2_ancestral", "karras",
            "dpmpp_2m_sde", "exponential", "dpmpp_2m_sde_heun", "exponential", "dpmpp_3m_sde", "exponential");

    private A1111Samplers() {
    }

    /** The diffusion-space samplers under their A1111 names (the flow and EDM Euler answer to "Euler"). */
    static List<Map<String, Object>> samplers() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (SamplerCatalog.Entry e : SamplerCatalog.of(NoiseSpace.DIFFUSION)) {
            List<String> aliases = new ArrayList<>(ALIASES.getOrDefault(e.name(), List.of()));
            aliases.add(0, e.name());
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", e.label());
            m.put("aliases", aliases);
            // the options A1111 lists for the sampler that change what runs: its scheduler, the level drop
            Map<String, Object> options = new LinkedHashMap<>();
            String scheduler = AUTOMATIC.get(e.name());
            if (scheduler != null) {
                options.put("scheduler", scheduler);
            }
            if (A1111LevelDrop.bySampler(e.name())) {
                options.put("discard_next_to_last_sigma", true);
            }
            m.put("options", options);
            out.add(m);
        }
        return out;
    }

    static List<Map<String, Object>> schedulers() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Scheduler s : SCHEDULERS) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", s.name());
            m.put("label", s.label());
            m.put("aliases", s.aliases().isEmpty() ? null : s.aliases());
            m.put("default_rho", s.name().equals("karras") ? 7.0 : -1.0);
            m.put("need_inner_model", false);
            out.add(m);
        }
        return out;
    }

    /** A1111 1.10's samplers that this server does not run: asked for by name, they are refused (404). */
    private static final List<String> A1111_NOT_RUN = List.of("dpm fast", "dpm adaptive", "restart", "ddim cfg++");

    /** A1111's first sampler, what its {@code get_sampler_and_scheduler} runs for a name it does not know. */
    private static final String A1111_DEFAULT_SAMPLER = "DPM++ 2M";

    /**
     * The native sampler and schedule for A1111's {@code sampler_name} and {@code scheduler} on a model of
     * {@code space}. As A1111 1.9+ ({@code sd_samplers.get_sampler_and_scheduler}), a sampler name it does not know
     * runs its first sampler (DPM++ 2M) and a scheduler it does not know runs Automatic, so that a client holding a
     * name of another UI (Forge's, ComfyUI's) still gets its image; A1111's own samplers that are not run here are
     * 404 ("Sampler not found") naming the field, since running another would not be what A1111 makes of them.
     */
    static Choice resolve(String samplerName, String samplerField, String scheduler, NoiseSpace space) {
        String name = samplerName.trim();
        String fromName = null;
        SamplerCatalog.Entry entry = find(name);
        if (entry == null) {
            // "DPM++ 2M Karras": as A1111, a scheduler label at the end is taken off before the sampler is looked up,
            // and kept whether or not what is left is a known sampler (the longest label that fits: "SGM Uniform",
            // not "Uniform")
            Scheduler suffix = null;
            for (Scheduler s : SCHEDULERS) {
                if (name.toLowerCase(Locale.ROOT).endsWith(" " + s.label().toLowerCase(Locale.ROOT))
                        && (suffix == null || s.label().length() > suffix.label().length())) {
                    suffix = s;
                }
            }
            if (suffix != null) {
                name = name.substring(0, name.length() - suffix.label().length() - 1).trim();
                fromName = suffix.name();
                entry = find(name);
            }
        }
        if (entry == null) {
            if (A1111_NOT_RUN.contains(name.toLowerCase(Locale.ROOT))) {
                throw SdApiError.notFound("Sampler", samplerField, "sampler '" + samplerName
                        + "' is not run by this server; GET /sdapi/v1/samplers lists those it runs");
            }
            entry = find(A1111_DEFAULT_SAMPLER); // A1111: all_samplers_map.get(name, default_sampler)
        }
        // the sampler's own schedule is the method's, in every space (Forge gives DPM++ 2M Karras levels on FLUX too)
        String own = AUTOMATIC.get(entry.name());
        // likewise the level drop, an option of the method's entry that get_sigmas reads whatever the model
        boolean discard = A1111LevelDrop.bySampler(entry.name());
        // a name means its method in whatever space the model samples in ("DPM++ 2M" on FLUX: flow_dpmpp_2m)
        entry = SamplerCatalog.sampler(SamplerCatalog.inSpace(entry.name(), space)).orElseThrow();
        if (!entry.sigmaSpaced()) {
            own = null; // an EDM model's levels are its config's own (Karras by default): nothing to respace
        }
        boolean automatic = scheduler == null || scheduler.isBlank() || scheduler.equalsIgnoreCase("automatic")
                || schedule(scheduler, space) == null;
        String sched = !automatic ? scheduler : fromName != null ? fromName : own;
        String resolved = schedule(sched, space);
        return new Choice(entry.name(), resolved == null ? "default" : resolved, discard);
    }

    private static String schedule(String scheduler, NoiseSpace space) {
        if (scheduler == null) {
            return "default";
        }
        for (Scheduler s : SCHEDULERS) {
            if (s.name().equalsIgnoreCase(scheduler) || s.label().equalsIgnoreCase(scheduler)
                    || s.aliases().stream().anyMatch(a -> a.equalsIgnoreCase(scheduler))) {
                if (s.schedule() == null) {
                    return space == NoiseSpace.FLOW ? "default" : "trailing";
                }
                return s.schedule();
            }
        }
        return null; // A1111: schedulers_map.get(name, schedulers[0]), Automatic
    }

    private static SamplerCatalog.Entry find(String name) {
        for (SamplerCatalog.Entry e : SamplerCatalog.SAMPLERS) {
            if (e.label().equalsIgnoreCase(name) || e.name().equalsIgnoreCase(name)
                    || ALIASES.getOrDefault(e.name(), List.of()).stream().anyMatch(a -> a.equalsIgnoreCase(name))) {
                return e;
            }
        }
        return null;
    }
}
