package dev.jdiffuse.samplers;

import dev.jdiffuse.samplers.methods.Ddim;
import dev.jdiffuse.samplers.methods.GradientEstimationCfgPp;
import dev.jdiffuse.samplers.methods.ResMultistepCfgPp;
import dev.jdiffuse.samplers.methods.DpmPp2sAncestralCfgPp;
import dev.jdiffuse.samplers.methods.DpmPp2mCfgPp;
import dev.jdiffuse.samplers.methods.EulerCfgPp;
import dev.jdiffuse.samplers.methods.Seeds2;
import dev.jdiffuse.samplers.methods.IpndmVariable;
import dev.jdiffuse.samplers.methods.HeunPlusPlus;
import dev.jdiffuse.samplers.methods.GradientEstimation;
import dev.jdiffuse.samplers.methods.ErSde;
import dev.jdiffuse.samplers.methods.Deis;
import dev.jdiffuse.samplers.methods.Ddpm;
import dev.jdiffuse.samplers.methods.Dpm2;
import dev.jdiffuse.samplers.methods.Dpm2Ancestral;
import dev.jdiffuse.samplers.methods.DpmPp2sAncestral;
import dev.jdiffuse.samplers.methods.DpmPp3mSde;
import dev.jdiffuse.samplers.methods.DpmPpSde;
import dev.jdiffuse.samplers.methods.DpmPp2m;
import dev.jdiffuse.samplers.methods.DpmPp2mSde;
import dev.jdiffuse.samplers.methods.Euler;
import dev.jdiffuse.samplers.methods.EulerAncestral;
import dev.jdiffuse.samplers.methods.Heun;
import dev.jdiffuse.samplers.methods.Ipndm;
import dev.jdiffuse.samplers.methods.Lcm;
import dev.jdiffuse.samplers.methods.Lms;
import dev.jdiffuse.samplers.methods.Plms;
import dev.jdiffuse.samplers.methods.ResMultistep;
import dev.jdiffuse.samplers.methods.UniPc;
import dev.jdiffuse.schedulers.AlignYourSteps;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SigmaSpacing;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Every sampler and schedule the project offers, as two tables. The registry, the mapping from a model's
 * {@code scheduler_config.json} class, the checks of a request, {@code GET /v1/samplers}, the image metadata labels
 * and the command-line help all read these tables; nothing else lists samplers.
 */
public final class SamplerCatalog {

    /** The noise parameterisation a model is trained in; a sampler applies to models of its space only. */
    public enum NoiseSpace {
        /** Discrete-time diffusion (DDPM betas), sampled in the variance-exploding state {@code x = x0 + s eps}. */
        DIFFUSION,
        /** Karras et al. 2022's continuous EDM formulation with its preconditioning. */
        EDM,
        /** Rectified flow {@code x = (1 - s) x0 + s eps} (SD3, FLUX). */
        FLOW
    }

    /** A tunable parameter: its API name, default, range and meaning. */
    public record Param(String name, double defaultValue, double min, double max, String description) {
    }

    /**
     * One sampler.
     *
     * @param name the stable API and metadata name
     * @param label AUTOMATIC1111's display name (the PNG {@code parameters} text)
     * @param schedulerClass the diffusers scheduler class it reproduces; its config supplies the schedule
     * @param stochastic whether it injects fresh noise on every step
     * @param sigmaSpaced whether it accepts sigma-spaced schedules (Karras, exponential)
     * @param space the models it applies to
     * @param parameters what a model config or a request may tune
     * @param factory builds the sampler from the options a scheduler config implies
     * @param configOverrides the {@code scheduler_config.json} entries that select this variant of its class
     *     (DPM-Solver's {@code algorithm_type}); a model config matching them has this sampler as its default
     * @param reproducesClass whether the sampler is its scheduler class's algorithm; false for k-diffusion methods
     *     without a diffusers class of their own, which only take their schedule from {@code schedulerClass}
     * @param needsUnconditional whether it steps along the unconditional prediction ({@link Denoiser#denoiseGuided},
     *     CFG++): the pipeline then guides against the negative prompt at every scale, 1 and below too
     */
    public record Entry(String name, String label, SchedulerClass schedulerClass, boolean stochastic,
            boolean sigmaSpaced, NoiseSpace space, List<Param> parameters, Function<SamplerOptions, Sampler> factory,
            Map<String, Object> configOverrides, boolean reproducesClass, boolean needsUnconditional) {

        /** An entry without CFG++. */
        public Entry(String name, String label, SchedulerClass schedulerClass, boolean stochastic,
                boolean sigmaSpaced, NoiseSpace space, List<Param> parameters, Function<SamplerOptions, Sampler> factory,
                Map<String, Object> configOverrides, boolean reproducesClass) {
            this(name, label, schedulerClass, stochastic, sigmaSpaced, space, parameters, factory, configOverrides,
                    reproducesClass, false);
        }

        /** A variant of its scheduler class selected by {@code configOverrides}. */
        public Entry(String name, String label, SchedulerClass schedulerClass, boolean stochastic,
                boolean sigmaSpaced, NoiseSpace space, List<Param> parameters, Function<SamplerOptions, Sampler> factory,
                Map<String, Object> configOverrides) {
            this(name, label, schedulerClass, stochastic, sigmaSpaced, space, parameters, factory, configOverrides,
                    true);
        }

        /** An entry that is its scheduler class as configured (no variant entries). */
        public Entry(String name, String label, SchedulerClass schedulerClass, boolean stochastic,
                boolean sigmaSpaced, NoiseSpace space, List<Param> parameters,
                Function<SamplerOptions, Sampler> factory) {
            this(name, label, schedulerClass, stochastic, sigmaSpaced, space, parameters, factory, Map.of());
        }

        /**
         * A k-diffusion method with no diffusers class: it runs on the schedule {@code schedulerClass} computes from
         * the model's config (Euler's, as k-diffusion samplers share one discrete schedule) and every schedule.
         */
        static Entry kdiffusion(String name, String label, boolean stochastic, Sampler sampler) {
            return kdiffusion(name, label, stochastic, sampler, false);
        }

        private static Entry kdiffusion(String name, String label, boolean stochastic, Sampler sampler,
                boolean needsUnconditional) {
            return new Entry(name, label, SchedulerClass.EULER, stochastic, true, NoiseSpace.DIFFUSION, List.of(),
                    o -> sampler, Map.of(), false, needsUnconditional);
        }

        /**
         * A CFG++ method (Chung et al. 2024, as ComfyUI's {@code _cfg_pp} samplers): a k-diffusion method that steps
         * along the unconditional prediction and adds the guidance on its own.
         */
        static Entry cfgPp(String name, String label, boolean stochastic, Sampler sampler) {
            return kdiffusion(name, label, stochastic, sampler, true);
        }

        /**
         * A k-diffusion method on rectified flow (ComfyUI's way on flow models; diffusers has no class for it): the
         * model's own flow-matching schedule and every sigma spacing.
         */
        static Entry flow(String name, String label, boolean stochastic, Sampler sampler) {
            return new Entry(name, label, SchedulerClass.FLOW_MATCH_EULER, stochastic, true, NoiseSpace.FLOW,
                    List.of(), o -> sampler, Map.of(), false);
        }

        /** The diffusers {@code _class_name}s this sampler reproduces (none for {@link #kdiffusion} entries). */
        public List<String> diffusersClasses() {
            return reproducesClass ? List.of(schedulerClass.diffusersName()) : List.of();
        }

        public Sampler create(SamplerOptions options) {
            return factory.apply(options);
        }
    }

    /**
     * One way of spacing the noise levels.
     *
     * @param name the API name ("default" keeps the model's config)
     * @param label AUTOMATIC1111's "Schedule type" label
     * @param needsSigmaSpaced whether only sigma-spaced samplers accept it
     * @param configOverrides the {@code scheduler_config.json} entries it sets
     * @param parameters its tunable parameters
     * @param spacing the levels themselves, for schedules diffusers has no config for (A1111's and ComfyUI's
     *     k-diffusion spacings); null where the config overrides define the schedule
     */
    public record Schedule(String name, String label, boolean needsSigmaSpaced, Map<String, Object> configOverrides,
            List<Param> parameters, SigmaSpacing spacing) {

        /** A schedule defined by diffusers config entries. */
        public Schedule(String name, String label, boolean needsSigmaSpaced, Map<String, Object> configOverrides,
                List<Param> parameters) {
            this(name, label, needsSigmaSpaced, configOverrides, parameters, null);
        }

        public boolean appliesTo(Entry sampler) {
            return !needsSigmaSpaced || sampler.sigmaSpaced();
        }
    }

    private static final Param ETA = new Param("eta", 0.0, 0.0, 1.0, "DDIM eta (0 = deterministic)");
    private static final Param TIMESTEP_SCALING = new Param("timestep_scaling", 10.0, 0.0, 100.0,
            "consistency boundary condition scaling (model config)");
    private static final Param LOWER_ORDER_FINAL = new Param("lower_order_final", 1, 0, 1,
            "first-order last step below 15 steps (model config)");

    /**
     * The diffusion-space methods that run unchanged on EDM models: their state is the same {@code x = x0 + s eps}
     * (ComfyUI runs every k-diffusion sampler on its EDM model sampling). Each gets an {@code edm_} entry on the EDM
     * class's schedule; DDPM, DDIM, PLMS, UniPC and LCM, which step in a discrete model's alphas, do not.
     */
    private static final List<String> EDM_TWINS = List.of("euler_ancestral", "heun", "lms", "dpm_2",
            "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m_sde", "ipndm",
            "res_multistep", "res_multistep_ancestral", "dpmpp_2m_sde_heun", "ipndm_v", "deis", "heunpp2",
            "gradient_estimation", "er_sde", "seeds_2", "exp_heun_2_x0", "exp_heun_2_x0_sde", "euler_cfg_pp",
            "euler_ancestral_cfg_pp", "dpmpp_2m_cfg_pp", "dpmpp_2s_ancestral_cfg_pp", "res_multistep_cfg_pp",
            "gradient_estimation_cfg_pp");

    /** The sampler table, in the order the API lists it. */
    public static final List<Entry> SAMPLERS = withEdmTwins(List.of(
            new Entry("ddpm", "DDPM", SchedulerClass.DDPM, true, false, NoiseSpace.DIFFUSION, List.of(),
                    o -> new Ddpm(o.clipSampleRange())),
            new Entry("ddim", "DDIM", SchedulerClass.DDIM, false, false, NoiseSpace.DIFFUSION, List.of(ETA),
                    o -> new Ddim(o.eta(), o.clipSampleRange())),
            new Entry("pndm", "PLMS", SchedulerClass.PNDM, false, false, NoiseSpace.DIFFUSION, List.of(),
                    o -> new Plms()),
            new Entry("euler", "Euler", SchedulerClass.EULER, false, true, NoiseSpace.DIFFUSION, List.of(),
                    o -> new Euler()),
            new Entry("euler_ancestral", "Euler a", SchedulerClass.EULER_ANCESTRAL, true, true,
                    NoiseSpace.DIFFUSION, List.of(), o -> new EulerAncestral()),
            new Entry("heun", "Heun", SchedulerClass.HEUN, false, true, NoiseSpace.DIFFUSION, List.of(),
                    o -> new Heun(o.clipSampleRange())),
            new Entry("lms", "LMS", SchedulerClass.LMS, false, true, NoiseSpace.DIFFUSION, List.of(),
                    o -> new Lms(4)),
            new Entry("dpm_2", "DPM2", SchedulerClass.KDPM2, false, true, NoiseSpace.DIFFUSION, List.of(),
                    o -> new Dpm2()),
            new Entry("dpm_2_ancestral", "DPM2 a", SchedulerClass.KDPM2_ANCESTRAL, true, true, NoiseSpace.DIFFUSION,
                    List.of(), o -> new Dpm2Ancestral()),
            Entry.kdiffusion("dpmpp_2s_ancestral", "DPM++ 2S a", true, new DpmPp2sAncestral()),
            Entry.kdiffusion("dpmpp_sde", "DPM++ SDE", true, new DpmPpSde()),
            new Entry("dpmpp_2m", "DPM++ 2M", SchedulerClass.DPM_SOLVER_MULTISTEP, false, true,
                    NoiseSpace.DIFFUSION, List.of(LOWER_ORDER_FINAL),
                    o -> new DpmPp2m(o.lowerOrderFinal(), o.eulerAtFinal()),
                    Map.of("algorithm_type", "dpmsolver++")),
            new Entry("dpmpp_2m_sde", "DPM++ 2M SDE", SchedulerClass.DPM_SOLVER_MULTISTEP, true, true,
                    NoiseSpace.DIFFUSION, List.of(LOWER_ORDER_FINAL),
                    o -> new DpmPp2mSde(o.lowerOrderFinal(), o.eulerAtFinal()),
                    Map.of("algorithm_type", "sde-dpmsolver++")),
            Entry.kdiffusion("dpmpp_3m_sde", "DPM++ 3M SDE", true, new DpmPp3mSde()),
            Entry.kdiffusion("ipndm", "iPNDM", false, new Ipndm()),
            Entry.kdiffusion("res_multistep", "RES multistep", false, new ResMultistep()),
            // ComfyUI's other k-diffusion samplers
            Entry.kdiffusion("res_multistep_ancestral", "RES multistep a", true, new ResMultistep(true)),
            Entry.kdiffusion("dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun", true,
                    new DpmPp2mSde(false, false, Interpolant.VARIANCE_EXPLODING, true)),
            Entry.kdiffusion("ipndm_v", "iPNDM v", false, new IpndmVariable()),
            Entry.kdiffusion("deis", "DEIS", false, new Deis()),
            Entry.kdiffusion("heunpp2", "Heun++ 2", false, new HeunPlusPlus()),
            Entry.kdiffusion("gradient_estimation", "Gradient estimation", false, new GradientEstimation()),
            Entry.kdiffusion("er_sde", "ER SDE", true, new ErSde()),
            Entry.kdiffusion("seeds_2", "SEEDS 2", true, new Seeds2(1, 0.5, false, Interpolant.VARIANCE_EXPLODING)),
            Entry.kdiffusion("exp_heun_2_x0", "Exp Heun 2 x0", false,
                    new Seeds2(0, 1, true, Interpolant.VARIANCE_EXPLODING)),
            Entry.kdiffusion("exp_heun_2_x0_sde", "Exp Heun 2 x0 SDE", true,
                    new Seeds2(1, 1, true, Interpolant.VARIANCE_EXPLODING)),
            // CFG++: guidance scales around 1 (ComfyUI and Forge recommend 0.5 to 2)
            Entry.cfgPp("euler_cfg_pp", "Euler CFG++", false, new EulerCfgPp(false)),
            Entry.cfgPp("euler_ancestral_cfg_pp", "Euler a CFG++", true, new EulerCfgPp(true)),
            Entry.cfgPp("dpmpp_2m_cfg_pp", "DPM++ 2M CFG++", false, new DpmPp2mCfgPp()),
            Entry.cfgPp("dpmpp_2s_ancestral_cfg_pp", "DPM++ 2S a CFG++", true, new DpmPp2sAncestralCfgPp()),
            Entry.cfgPp("res_multistep_cfg_pp", "RES multistep CFG++", false, new ResMultistepCfgPp()),
            Entry.cfgPp("gradient_estimation_cfg_pp", "Gradient estimation CFG++", false,
                    new GradientEstimationCfgPp()),
            new Entry("unipc", "UniPC", SchedulerClass.UNIPC, false, true, NoiseSpace.DIFFUSION, List.of(),
                    o -> new UniPc(), Map.of("solver_type", "bh2")),
            new Entry("unipc_bh1", "UniPC bh1", SchedulerClass.UNIPC, false, true, NoiseSpace.DIFFUSION, List.of(),
                    o -> new UniPc(true), Map.of("solver_type", "bh1")),
            new Entry("lcm", "LCM", SchedulerClass.LCM, true, false, NoiseSpace.DIFFUSION, List.of(TIMESTEP_SCALING),
                    o -> new Lcm(o.timestepScaling(), o.clipSampleRange())),
            new Entry("edm_euler", "Euler EDM", SchedulerClass.EDM_EULER, false, false, NoiseSpace.EDM, List.of(),
                    o -> new Euler()),
            new Entry("flow_euler", "Euler Flow", SchedulerClass.FLOW_MATCH_EULER, false, true, NoiseSpace.FLOW,
                    List.of(), o -> new Euler()),
            new Entry("flow_heun", "Heun Flow", SchedulerClass.FLOW_MATCH_HEUN, false, true, NoiseSpace.FLOW,
                    List.of(), o -> new Heun(Double.POSITIVE_INFINITY)),
            // k-diffusion's methods on rectified flow, as ComfyUI runs them on its flow (CONST) models: the ODE solvers
            // unchanged (the probability-flow ODE has the same form in the flow state), the stochastic ones keeping
            // the flow marginal ((1 - s) x0 + s eps) with their noise
            Entry.flow("flow_euler_ancestral", "Euler a Flow", true, new EulerAncestral(Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_lms", "LMS Flow", false, new Lms(4, true)),
            Entry.flow("flow_dpm_2", "DPM2 Flow", false, new Dpm2()),
            Entry.flow("flow_dpm_2_ancestral", "DPM2 a Flow", true, new Dpm2Ancestral(Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_dpmpp_2s_ancestral", "DPM++ 2S a Flow", true,
                    new DpmPp2sAncestral(Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_dpmpp_sde", "DPM++ SDE Flow", true, new DpmPpSde(Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_dpmpp_2m", "DPM++ 2M Flow", false, new DpmPp2m(false, false)),
            Entry.flow("flow_dpmpp_2m_sde", "DPM++ 2M SDE Flow", true,
                    new DpmPp2mSde(false, false, Interpolant.RECTIFIED_FLOW, false)),
            Entry.flow("flow_dpmpp_3m_sde", "DPM++ 3M SDE Flow", true, new DpmPp3mSde(Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_ipndm", "iPNDM Flow", false, new Ipndm()),
            Entry.flow("flow_res_multistep", "RES multistep Flow", false, new ResMultistep()),
            Entry.flow("flow_dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun Flow", true,
                    new DpmPp2mSde(false, false, Interpolant.RECTIFIED_FLOW, true)),
            Entry.flow("flow_ipndm_v", "iPNDM v Flow", false, new IpndmVariable()),
            Entry.flow("flow_deis", "DEIS Flow", false, new Deis()),
            Entry.flow("flow_heunpp2", "Heun++ 2 Flow", false, new HeunPlusPlus()),
            Entry.flow("flow_gradient_estimation", "Gradient estimation Flow", false, new GradientEstimation()),
            Entry.flow("flow_er_sde", "ER SDE Flow", true, new ErSde(Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_seeds_2", "SEEDS 2 Flow", true, new Seeds2(1, 0.5, false, Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_exp_heun_2_x0", "Exp Heun 2 x0 Flow", false,
                    new Seeds2(0, 1, true, Interpolant.RECTIFIED_FLOW)),
            Entry.flow("flow_exp_heun_2_x0_sde", "Exp Heun 2 x0 SDE Flow", true,
                    new Seeds2(1, 1, true, Interpolant.RECTIFIED_FLOW))));

    /** {@code table} with an {@code edm_} entry after it for each of {@link #EDM_TWINS}, on the EDM class's levels. */
    private static List<Entry> withEdmTwins(List<Entry> table) {
        List<Entry> all = new java.util.ArrayList<>(table);
        for (String name : EDM_TWINS) {
            Entry e = table.stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow();
            all.add(new Entry("edm_" + name, e.label() + " EDM", SchedulerClass.EDM_EULER, e.stochastic(), false,
                    NoiseSpace.EDM, e.parameters(), e.factory(), Map.of(), false, e.needsUnconditional()));
        }
        return List.copyOf(all);
    }

    /** The schedule table. */
    public static final List<Schedule> SCHEDULES = List.of(
            new Schedule("default", "Automatic", false, Map.of(), List.of()),
            new Schedule("karras", "Karras", true,
                    Map.of("use_karras_sigmas", true, "use_exponential_sigmas", false, "use_beta_sigmas", false),
                    List.of(new Param("rho", 7.0, 1.0, 20.0, "Karras et al. 2022 eq. 5 rho"))),
            new Schedule("exponential", "Exponential", true,
                    Map.of("use_karras_sigmas", false, "use_exponential_sigmas", true, "use_beta_sigmas", false),
                    List.of()),
            // labels as the PNG "Schedule type" reads them: A1111's "Beta" is the sigma-space one
            new Schedule("beta", "Beta (timesteps)", true, Map.of(), List.of(
                    new Param("alpha", 0.6, 0.6, 0.6, "Beta distribution alpha"),
                    new Param("beta", 0.6, 0.6, 0.6, "Beta distribution beta")),
                    SigmaSpacing.betaTimesteps(0.6, 0.6)),
            new Schedule("beta_sigmas", "Beta", true, Map.of(), List.of(),
                    SigmaSpacing.betaSigmas(0.6, 0.6)),
            new Schedule("kl_optimal", "KL Optimal", true, Map.of(), List.of(), SigmaSpacing.klOptimal()),
            new Schedule("align_your_steps", "Align Your Steps", true, Map.of(), List.of(),
                    AlignYourSteps.spacing()),
            new Schedule("polyexponential", "Polyexponential", true, Map.of(),
                    List.of(new Param("rho", 1.0, 1.0, 1.0, "k-diffusion's polyexponential rho (1: exponential)")),
                    SigmaSpacing.polyexponential(1.0)),
            new Schedule("leading", "Leading", false, Map.of("timestep_spacing", "leading"), List.of()),
            new Schedule("linspace", "Linspace", false, Map.of("timestep_spacing", "linspace"), List.of()),
            new Schedule("trailing", "Trailing", false, Map.of("timestep_spacing", "trailing"), List.of()));

    /**
     * diffusers scheduler classes no sampler reproduces, mapped to the nearest one that exists (same noise space and
     * prediction; A1111 and ComfyUI ignore a folder's scheduler altogether). DPM-Solver SDE is k-diffusion's DPM++ SDE
     * with torchsde's Brownian tree for noise ({@code dpmpp_sde} draws the same law from the request's stream);
     * DPM-Solver single-step has a multistep neighbour here, and diffusers' DEIS ({@code logrho}) ComfyUI's time-based
     * DEIS.
     */
    private static final Map<String, String> NEAREST = Map.ofEntries(
            Map.entry("DPMSolverSinglestepScheduler", "dpmpp_2m"), Map.entry("DPMSolverSDEScheduler", "dpmpp_sde"),
            Map.entry("DEISMultistepScheduler", "deis"), Map.entry("TCDScheduler", "lcm"),
            Map.entry("EDMDPMSolverMultistepScheduler", "edm_dpmpp_2m"));

    private SamplerCatalog() {
    }

    /**
     * The sampler standing for a diffusers scheduler class: the one reproducing it, else the nearest one
     * ({@link #isExact} tells which); a class never heard of maps to Euler (or flow Euler for a flow-matching name).
     */
    public static Entry forDiffusersClass(String className) {
        for (Entry e : SAMPLERS) {
            if (e.diffusersClasses().contains(className)) {
                return e;
            }
        }
        String nearest = NEAREST.getOrDefault(className,
                className != null && className.startsWith("FlowMatch") ? "flow_euler" : "euler");
        return sampler(nearest).orElseThrow();
    }

    /** Whether a sampler reproduces {@code className} exactly (else {@link #forDiffusersClass} is an approximation). */
    public static boolean isExact(String className) {
        return SAMPLERS.stream().anyMatch(e -> e.diffusersClasses().contains(className));
    }

    public static Optional<Entry> sampler(String name) {
        return SAMPLERS.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    public static Optional<Schedule> schedule(String name) {
        return SCHEDULES.stream().filter(e -> e.name().equals(name)).findFirst();
    }

    /** The sampler that reproduces a diffusers scheduler class (a model's configured default). */
    public static Entry forSchedulerClass(SchedulerClass c) {
        return SAMPLERS.stream().filter(e -> e.schedulerClass() == c).findFirst()
                .orElseThrow(() -> new IllegalStateException("no sampler for " + c));
    }

    /**
     * The sampler that reproduces a model's scheduler config: of its class's entries, the one whose
     * {@link Entry#configOverrides} the config matches (DPM-Solver's {@code algorithm_type}), else the class's first.
     *
     * @param setting the config's value of an override key
     */
    public static Entry forSchedulerConfig(SchedulerClass c, Function<String, Object> setting) {
        return SAMPLERS.stream().filter(e -> e.schedulerClass() == c && !e.configOverrides().isEmpty()
                        && e.configOverrides().entrySet().stream()
                        .allMatch(o -> o.getValue().equals(setting.apply(o.getKey()))))
                .findFirst().orElseGet(() -> forSchedulerClass(c));
    }

    /**
     * The sampler running {@code name}'s method in {@code space}, for front ends whose one name serves every model
     * (A1111's "Euler", ComfyUI's {@code dpmpp_2m}): on flow models the {@code flow_} entry of the method where there
     * is one ({@code flow_euler}, {@code flow_heun}, {@code flow_dpmpp_2m}, ...), on EDM models the {@code edm_} one
     * ({@code edm_euler}, {@code edm_dpmpp_2m}, ...); any other name is itself.
     */
    public static String inSpace(String name, NoiseSpace space) {
        String prefix = space == NoiseSpace.FLOW ? "flow_" : space == NoiseSpace.EDM ? "edm_" : null;
        if (prefix != null && !name.startsWith(prefix) && sampler(prefix + name).isPresent()) {
            return prefix + name;
        }
        return name;
    }

    /** The samplers of one noise space, in table order. */
    public static List<Entry> of(NoiseSpace space) {
        return SAMPLERS.stream().filter(e -> e.space() == space).toList();
    }

    /** Sampler names, in table order. */
    public static List<String> names() {
        return SAMPLERS.stream().map(Entry::name).toList();
    }

    /** The A1111 label of a sampler name, or the name itself when unknown. */
    public static String samplerLabel(String name) {
        return sampler(name).map(Entry::label).orElse(name);
    }

    /** The A1111 label of a schedule name, or the name itself when unknown. */
    public static String scheduleLabel(String name) {
        return schedule(name).map(Schedule::label).orElse(name);
    }
}
