package dev.jdiffuse.schedulers;

/**
 * Turns a scheduler config and a step count into the {@link SamplingSchedule} the matching diffusers scheduler's
 * {@code set_timesteps} produces, re-expressed in this project's single state space (see {@link SamplingSchedule}):
 *
 * <ul>
 * <li>DDPM, DDIM, PNDM, LCM, DPM-Solver, UniPC keep their sample in variance-preserving space in diffusers; here the
 * sample is {@code x = x_vp * sqrt(1 + sigma^2)}, so {@code initNoiseSigma = sqrt(1 + sigma_0^2)} where diffusers has
 * 1.</li>
 * <li>Euler, Euler ancestral, Heun, EDM keep diffusers' sigmas and {@code init_noise_sigma} unchanged.</li>
 * <li>Flow matching keeps diffusers' flow sigmas; the timestep is {@code 1000 * sigma}.</li>
 * </ul>
 *
 * <p>DDIM quirk: diffusers' DDIM steps from {@code t} to {@code t - T // n}, which is the next timestep only when the
 * spacing is uniform with step {@code T // n} (leading, and trailing when {@code n} divides {@code T}). Here every
 * step lands on the next scheduled timestep (as diffusers' DDPM does), so runs are identical where diffusers is
 * self-consistent; only the last step follows diffusers' rule ({@code t - T // n}, or {@code final_alpha_cumprod}
 * when negative).
 *
 * <p>Heun's schedule has one entry per step; diffusers' interleaved form {@code [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0]}
 * is the same levels, visited by the sampler's correction evaluations.
 */
public final class DiffusersSchedules {

    private DiffusersSchedules() {
    }

    /** The schedule of a config without dynamic shifting. */
    public static SamplingSchedule of(SchedulerConfig c, int steps) {
        return of(c, steps, Double.NaN);
    }

    /**
     * @param mu the exponential time shift for flow matching with {@code use_dynamic_shifting} (see
     *     {@link SchedulerConfig#mu(int)}); ignored (may be NaN) otherwise
     */
    public static SamplingSchedule of(SchedulerConfig c, int steps, double mu) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be positive, got " + steps);
        }
        SamplingSchedule s = switch (c.schedulerClass()) {
            case DDPM -> ddpm(c, steps);
            case DDIM -> ddim(c, steps);
            case PNDM -> pndm(c, steps);
            case LCM -> lcm(c, steps);
            case EULER, EULER_ANCESTRAL, HEUN, LMS, KDPM2, KDPM2_ANCESTRAL -> karrasFamily(c, steps);
            case DPM_SOLVER_MULTISTEP, UNIPC -> multistep(c, steps);
            case EDM_EULER -> edm(c, steps);
            case FLOW_MATCH_EULER, FLOW_MATCH_HEUN -> flow(c, steps, mu);
        };
        return s.withLevels(levels(c));
    }

    /** How the class conditions its network at a level between scheduled ones (see {@link SigmaTimesteps}). */
    public static SigmaTimesteps levels(SchedulerConfig c) {
        return switch (c.schedulerClass()) {
            case EDM_EULER -> SigmaTimesteps.edm();
            case FLOW_MATCH_EULER, FLOW_MATCH_HEUN -> SigmaTimesteps.flow(c.numTrainTimesteps());
            default -> SigmaTimesteps.discrete(trainingSigmas(c));
        };
    }

    /**
     * {@code alphas_cumprod} as the class stores it (float32 values, see {@link DiffusersFloat32}): Euler, Euler ancestral, DPM-Solver and UniPC replace a zero
     * terminal value (zero-SNR rescaling) by {@code 2^-24} so that their first sigma is finite.
     */
    public static double[] alphasCumprod(SchedulerConfig c) {
        double[] abar = DiffusersFloat32.alphasCumprod(c);
        boolean capsTerminal = switch (c.schedulerClass()) {
            case EULER, EULER_ANCESTRAL, DPM_SOLVER_MULTISTEP, UNIPC -> true;
            default -> false;
        };
        if (capsTerminal && c.rescaleBetasZeroSnr()) {
            abar[abar.length - 1] = 0x1p-24;
        }
        return abar;
    }

    /** The sigma of every training timestep, as the class computes it (ascending in t). */
    public static double[] trainingSigmas(SchedulerConfig c) {
        return DiffusersFloat32.sigmas(alphasCumprod(c));
    }

    private static SamplingSchedule ddpm(SchedulerConfig c, int n) {
        double[] t = spacing(c).integerTimesteps(c.numTrainTimesteps(), n, c.stepsOffset());
        double[] table = trainingSigmas(c);
        double[] s = at(table, t, 0.0);
        return vp(s, t);
    }

    private static SamplingSchedule ddim(SchedulerConfig c, int n) {
        double[] t = spacing(c).integerTimesteps(c.numTrainTimesteps(), n, c.stepsOffset());
        double[] table = trainingSigmas(c);
        int last = (int) t[t.length - 1] - c.numTrainTimesteps() / n;
        double finalSigma = last >= 0 ? table[last] : c.setAlphaToOne() ? 0.0 : table[0];
        return vp(at(table, t, finalSigma), t);
    }

    /**
     * PNDM with {@code skip_prk_steps=True} (PLMS). diffusers' {@code set_timesteps} spaces {@code n} integer
     * timesteps {@code t_0 > ... > t_{n-1}} exactly as DDIM does (leading {@code k (T // n) + steps_offset}, linspace
     * and trailing likewise), then feeds the network {@code n + 1} times at
     * <pre>
     *   plms_timesteps = [t_0, t_1, t_1, t_2, ..., t_{n-1}]      (t_1 repeated; [t_0] alone when n = 1)
     * </pre>
     * and {@code step_plms} moves the sample {@code t -> t - T // n}, the last step to {@code alphas_cumprod[0]}
     * ({@code set_alpha_to_one=False}) or 1. The repeated {@code t_1} is not a step of its own: diffusers' second
     * call evaluates the model on the sample just moved to {@code t_1} and then redoes the first step
     * {@code t_0 -> t_1} from the kept sample with the averaged output (a trapezoidal corrector), so the sample
     * visits each {@code t_i} once. The schedule is therefore DDIM's: {@code n} steps with one sigma per
     * {@code t_i} plus the landing level, and the sampler ({@code dev.jdiffuse.samplers.methods.Plms}) spends its
     * extra evaluation inside the first step, at the next step's level. {@code init_noise_sigma = 1} in diffusers'
     * variance-preserving sample is {@code sqrt(1 + sigma_0^2)} here. Where {@code T // n} is not the spacing
     * (linspace, or trailing with {@code n} not dividing {@code T}) diffusers' steps and timesteps disagree; as for
     * DDIM every step here lands on the next scheduled timestep.
     */
    private static SamplingSchedule pndm(SchedulerConfig c, int n) {
        return ddim(c, n);
    }

    private static SamplingSchedule lcm(SchedulerConfig c, int n) {
        int original = c.originalInferenceSteps();
        int k = c.numTrainTimesteps() / original;
        if (n > original) {
            throw new IllegalArgumentException("LCM steps " + n + " exceed original_inference_steps " + original);
        }
        double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            int index = (int) Math.floor((double) i * original / n);
            t[i] = (double) (original - index) * k - 1;
        }
        return vp(at(trainingSigmas(c), t, 0.0), t);
    }

    private static SamplingSchedule karrasFamily(SchedulerConfig c, int n) {
        TimestepSpacing spacing = spacing(c);
        double[] t = spacing.timesteps(c.numTrainTimesteps(), n, c.stepsOffset());
        double[] table = trainingSigmas(c);
        double[] s = Sigmas.interp(t, table);
        // diffusers' EulerAncestralDiscreteScheduler has none of these options and ignores them in a config
        boolean spaced = c.schedulerClass() != SchedulerClass.EULER_ANCESTRAL;
        boolean karras = spaced && c.useKarrasSigmas();
        boolean exponential = spaced && c.useExponentialSigmas();
        boolean beta = spaced && c.useBetaSigmas();
        if (karras || exponential || beta) {
            double min = Double.isNaN(c.sigmaMin()) ? s[s.length - 1] : c.sigmaMin();
            double max = Double.isNaN(c.sigmaMax()) ? s[0] : c.sigmaMax();
            s = karras ? Sigmas.karras(n, min, max, 7.0)
                    : exponential ? Sigmas.exponential(n, min, max) : Sigmas.beta(n, min, max);
            // KDPM2's set_timesteps rounds the Karras timesteps; Euler, Heun and LMS keep them fractional
            boolean round = karras && (c.schedulerClass() == SchedulerClass.KDPM2
                    || c.schedulerClass() == SchedulerClass.KDPM2_ANCESTRAL);
            t = timestepsOf(s, table, round);
        }
        boolean sigmaMinLast = c.schedulerClass() == SchedulerClass.EULER && "sigma_min".equals(c.finalSigmasType());
        double[] sigmas = append(s, sigmaMinLast ? table[0] : 0.0);
        double max = s[0];
        for (double v : s) {
            max = Math.max(max, v);
        }
        double init = spacing == TimestepSpacing.LEADING ? Math.sqrt(max * max + 1) : max;
        return new SamplingSchedule(sigmas, t, init);
    }

    private static SamplingSchedule multistep(SchedulerConfig c, int n) {
        double[] t = spacing(c).solverTimesteps(c.numTrainTimesteps(), n, c.stepsOffset());
        double[] table = trainingSigmas(c);
        double[] s;
        boolean sigmaMin = "sigma_min".equals(c.finalSigmasType());
        double finalSigma = sigmaMin ? table[0] : 0.0;
        if (c.useKarrasSigmas() || c.useExponentialSigmas() || c.useBetaSigmas()) {
            double min = Double.isNaN(c.sigmaMin()) ? table[0] : c.sigmaMin();
            double max = Double.isNaN(c.sigmaMax()) ? table[table.length - 1] : c.sigmaMax();
            s = c.useKarrasSigmas() ? Sigmas.karras(n, min, max, 7.0)
                    : c.useExponentialSigmas() ? Sigmas.exponential(n, min, max) : Sigmas.beta(n, min, max);
            boolean round = c.useKarrasSigmas() && (c.schedulerClass() == SchedulerClass.UNIPC
                    || !"squaredcos_cap_v2".equals(c.betaSchedule()));
            t = timestepsOf(s, table, round);
            if (!c.useKarrasSigmas()) {
                // exponential and beta levels: diffusers keeps the fractional timesteps until set_timesteps casts
                // them to int64, which truncates (pinned by the diffusers-written dpmpp_2m_beta / unipc_beta cases)
                for (int i = 0; i < t.length; i++) {
                    t[i] = Math.floor(t[i]);
                }
            }
            if (sigmaMin && c.schedulerClass() == SchedulerClass.UNIPC) {
                finalSigma = s[s.length - 1];
            }
        } else {
            s = Sigmas.interp(t, table);
        }
        return vp(append(s, finalSigma), t);
    }

    private static SamplingSchedule edm(SchedulerConfig c, int n) {
        double[] s = switch (c.sigmaSchedule()) {
            case "karras" -> Sigmas.karras(n, c.sigmaMin(), c.sigmaMax(), c.rho());
            case "exponential" -> Sigmas.exponential(n, c.sigmaMin(), c.sigmaMax());
            default -> throw new IllegalArgumentException("unsupported sigma_schedule " + c.sigmaSchedule());
        };
        double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            t[i] = 0.25 * Math.log(s[i]); // Karras et al. 2022, Table 1: c_noise = ln(sigma) / 4
        }
        double last = "sigma_min".equals(c.finalSigmasType()) ? s[n - 1] : 0.0;
        return new SamplingSchedule(append(s, last), t, Math.sqrt(c.sigmaMax() * c.sigmaMax() + 1));
    }

    /**
     * A k-diffusion-style schedule (A1111's and ComfyUI's KL-optimal, polyexponential, beta) for a discrete-time
     * diffusion config: {@code spacing}'s {@code n} levels from the trained ones (whose range
     * {@code [sigma(t=0), sigma(t=T-1)]} k-diffusion's {@code DiscreteSchedule} calls {@code sigma_min}/{@code sigma_max}),
     * a terminal 0, fractional timesteps by {@code log sigma} interpolation ({@code sigma_to_t}); the first sample is
     * the noise scaled by the first level (in the variance-preserving classes' convention, {@code sqrt(1 + sigma_0^2)}).
     * Flow-matching configs: see {@link #spaced(SchedulerConfig, int, SigmaSpacing, double[], double)}.
     */
    public static SamplingSchedule spaced(SchedulerConfig c, int n, SigmaSpacing spacing) {
        return spaced(c, n, spacing, null, Double.NaN);
    }

    /**
     * {@link #spaced(SchedulerConfig, int, SigmaSpacing)} for a model with Align Your Steps levels (null: none) and,
     * for a flow-matching config, its trained levels shifted as ComfyUI's model sampling shifts them:
     * {@code shift(t / T)} for {@code t = 1 .. T} by the config's {@code shift}, or by {@code mu} with dynamic
     * shifting; there the timestep is {@code T sigma} and the first sample the unit noise itself.
     */
    public static SamplingSchedule spaced(SchedulerConfig c, int n, SigmaSpacing spacing, double[] alignYourSteps,
            double mu) {
        if (n < 1) {
            throw new IllegalArgumentException("steps must be positive, got " + n);
        }
        if (c.schedulerClass() == SchedulerClass.EDM_EULER) {
            throw new IllegalArgumentException("k-diffusion spacings are for discrete-time diffusion and flow configs, "
                    + "not " + c.schedulerClass().diffusersName());
        }
        if (c.schedulerClass().flowMatching()) {
            double[] s = spacing.levels(n, new ModelSigmas(flowTrainingSigmas(c, mu), alignYourSteps));
            double[] t = new double[n];
            for (int i = 0; i < n; i++) {
                t[i] = s[i] * c.numTrainTimesteps();
            }
            return new SamplingSchedule(append(s, 0.0), t, 1.0).withLevels(levels(c));
        }
        double[] table = trainingSigmas(c);
        double[] s = spacing.levels(n, new ModelSigmas(table, alignYourSteps));
        double[] t = timestepsOf(s, table, false);
        SamplingSchedule schedule = c.schedulerClass().variancePreservingSample() ? vp(append(s, 0.0), t)
                : new SamplingSchedule(append(s, 0.0), t, s[0]);
        return schedule.withLevels(levels(c));
    }

    /**
     * A flow-matching schedule from the sigmas a pipeline passes to diffusers' {@code set_timesteps(sigmas=...)}
     * (before shifting): FLUX passes {@code linspace(1, 1/n, n)} instead of the scheduler's own span. They are shifted
     * (by {@code shift}, or by {@code mu} with {@code use_dynamic_shifting}) and a terminal 0 appended, as there.
     */
    public static SamplingSchedule flowFromSigmas(SchedulerConfig c, double[] sigmas, double mu) {
        if (!c.schedulerClass().flowMatching()) {
            throw new IllegalArgumentException("explicit sigmas are a flow-matching schedule's, not "
                    + c.schedulerClass().diffusersName() + "'s");
        }
        if (sigmas.length < 1) {
            throw new IllegalArgumentException("at least one sigma is needed");
        }
        return shiftedFlow(c, sigmas.clone(), mu).withLevels(levels(c));
    }

    /** FLUX's unshifted sigmas for {@code n} steps: {@code linspace(1, 1/n, n)} (diffusers' {@code FluxPipeline}). */
    public static double[] fluxSigmas(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("steps must be positive, got " + n);
        }
        return BetaSchedules.linspace(1.0, 1.0 / n, n);
    }

    /** The shifted flow level of every training timestep {@code t / T}, {@code t = 1 .. T} (ascending). */
    static double[] flowTrainingSigmas(SchedulerConfig c, double mu) {
        if (c.useDynamicShifting() && Double.isNaN(mu)) {
            throw new IllegalArgumentException("use_dynamic_shifting needs mu (see SchedulerConfig.mu)");
        }
        int trainSteps = c.numTrainTimesteps();
        double[] s = new double[trainSteps];
        for (int i = 0; i < trainSteps; i++) {
            double u = (i + 1.0) / trainSteps;
            s[i] = c.useDynamicShifting() ? Sigmas.timeShiftExponential(mu, u) : Sigmas.shiftFlow(c.shift(), u);
        }
        return s;
    }

    private static SamplingSchedule flow(SchedulerConfig c, int n, double mu) {
        int trainSteps = c.numTrainTimesteps();
        // diffusers' constructor shifts the training levels (unless dynamic); set_timesteps spans those, then shifts.
        double sigmaMax = c.useDynamicShifting() ? 1.0 : Sigmas.shiftFlow(c.shift(), 1.0);
        double sigmaMin = c.useDynamicShifting() ? 1.0 / trainSteps : Sigmas.shiftFlow(c.shift(), 1.0 / trainSteps);
        return shiftedFlow(c, BetaSchedules.linspace(sigmaMax, sigmaMin, n), mu);
    }

    /**
     * Shifts {@code s} in place ({@code shift} or dynamic {@code mu}), respaces the shifted levels where the config
     * asks for Karras, exponential or beta sigmas, timesteps {@code 1000 sigma}, terminal 0.
     */
    private static SamplingSchedule shiftedFlow(SchedulerConfig c, double[] s, double mu) {
        if (c.useDynamicShifting() && Double.isNaN(mu)) {
            throw new IllegalArgumentException("use_dynamic_shifting needs mu (see SchedulerConfig.mu)");
        }
        int trainSteps = c.numTrainTimesteps();
        int n = s.length;
        for (int i = 0; i < n; i++) {
            s[i] = c.useDynamicShifting() ? Sigmas.timeShiftExponential(mu, s[i]) : Sigmas.shiftFlow(c.shift(), s[i]);
        }
        if (c.useKarrasSigmas() || c.useExponentialSigmas() || c.useBetaSigmas()) {
            // diffusers' FlowMatchEuler respaces the shifted levels between their own ends
            double min = Double.isNaN(c.sigmaMin()) ? s[n - 1] : c.sigmaMin();
            double max = Double.isNaN(c.sigmaMax()) ? s[0] : c.sigmaMax();
            s = c.useKarrasSigmas() ? Sigmas.karras(n, min, max, 7.0)
                    : c.useExponentialSigmas() ? Sigmas.exponential(n, min, max) : Sigmas.beta(n, min, max);
        }
        double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            t[i] = s[i] * trainSteps;
        }
        return new SamplingSchedule(append(s, 0.0), t, 1.0);
    }

    private static double[] timestepsOf(double[] sigmas, double[] table, boolean round) {
        double[] logTable = DiffusersFloat32.logs(table);
        double[] t = new double[sigmas.length];
        for (int i = 0; i < t.length; i++) {
            double v = Sigmas.sigmaToTimestep(sigmas[i], logTable);
            t[i] = round ? Math.rint(v) : v;
        }
        return t;
    }

    /** A variance-preserving-space schedule: sigmas as given, initial sample scaled by {@code sqrt(1 + sigma_0^2)}. */
    private static SamplingSchedule vp(double[] sigmas, double[] timesteps) {
        return new SamplingSchedule(sigmas, timesteps, Math.sqrt(1 + sigmas[0] * sigmas[0]));
    }

    private static double[] at(double[] table, double[] timesteps, double last) {
        double[] s = new double[timesteps.length + 1];
        for (int i = 0; i < timesteps.length; i++) {
            s[i] = table[(int) timesteps[i]];
        }
        s[timesteps.length] = last;
        return s;
    }

    private static double[] append(double[] v, double last) {
        double[] s = java.util.Arrays.copyOf(v, v.length + 1);
        s[v.length] = last;
        return s;
    }

    private static TimestepSpacing spacing(SchedulerConfig c) {
        return TimestepSpacing.parse(c.timestepSpacing());
    }
}
