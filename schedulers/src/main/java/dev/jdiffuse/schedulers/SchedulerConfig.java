package dev.jdiffuse.schedulers;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A diffusers {@code scheduler_config.json}, with diffusers' constructor defaults for absent fields. Only the
 * fields the supported classes read are kept; options this module does not implement are rejected when parsing
 * (never silently ignored).
 *
 * <p>{@code sigmaMin}/{@code sigmaMax} are {@code NaN} when unset (diffusers' {@code None}: taken from the trained
 * schedule); {@code trainedBetas} is {@code null} when unset.
 */
public record SchedulerConfig(
        SchedulerClass schedulerClass,
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        String betaSchedule,
        double[] trainedBetas,
        String predictionType,
        String timestepSpacing,
        int stepsOffset,
        boolean clipSample,
        double clipSampleRange,
        boolean setAlphaToOne,
        boolean rescaleBetasZeroSnr,
        boolean useKarrasSigmas,
        boolean useExponentialSigmas,
        boolean useBetaSigmas,
        double sigmaMin,
        double sigmaMax,
        double sigmaData,
        double rho,
        String sigmaSchedule,
        double shift,
        boolean useDynamicShifting,
        double baseShift,
        double maxShift,
        int baseImageSeqLen,
        int maxImageSeqLen,
        int originalInferenceSteps,
        double timestepScaling,
        int solverOrder,
        String algorithmType,
        String solverType,
        boolean lowerOrderFinal,
        boolean eulerAtFinal,
        String finalSigmasType,
        String varianceType) {

    private static final Map<String, Object> COMMON_DEFAULTS = commonDefaults();

    /**
     * The config from its JSON object as a map ({@code scheduler_config.json} read by any JSON library: numbers as
     * {@link Number}, booleans, strings, lists; nulls mean diffusers' {@code None}). Unknown keys are ignored, as
     * diffusers ignores them; options this module does not implement are rejected. {@code schedulerClass} overrides
     * {@code _class_name} (which may then be absent), e.g. when a pipeline swaps the scheduler but keeps the betas.
     */
    /**
     * The value of {@code key} in a config of class {@code cls} as {@link #of} reads it: {@code raw}'s where given
     * (not null), else the class's default, else the common one (null for a key no default covers).
     */
    public static Object setting(Map<String, ?> raw, SchedulerClass cls, String key) {
        Object v = raw.get(key);
        if (v != null) {
            return v;
        }
        Object d = cls.defaults().get(key);
        return d != null ? d : COMMON_DEFAULTS.get(key);
    }

    @SuppressWarnings("unchecked")
    public static SchedulerConfig of(Map<String, ?> raw, SchedulerClass schedulerClass) {
        SchedulerClass cls = schedulerClass;
        if (cls == null) {
            Object name = raw.get("_class_name");
            if (name == null) {
                throw new IllegalArgumentException("scheduler config has no _class_name and no class was given");
            }
            cls = SchedulerClass.fromDiffusersName((String) name);
        }
        Map<String, Object> v = new HashMap<>(COMMON_DEFAULTS);
        v.putAll(cls.defaults());
        raw.forEach((k, val) -> {
            if (val != null) {
                v.put(k, val);
            }
        });
        rejectUnsupported(v);
        Object tb = raw.get("trained_betas");
        double[] trained = null;
        if (tb != null) {
            List<Object> list = (List<Object>) tb;
            trained = list.stream().mapToDouble(o -> ((Number) o).doubleValue()).toArray();
        }
        return new SchedulerConfig(cls, i(v, "num_train_timesteps"), d(v, "beta_start"), d(v, "beta_end"),
                s(v, "beta_schedule"), trained, s(v, "prediction_type"), s(v, "timestep_spacing"),
                i(v, "steps_offset"), b(v, "clip_sample"), d(v, "clip_sample_range"), b(v, "set_alpha_to_one"),
                b(v, "rescale_betas_zero_snr") && cls.hasZeroSnrOption(), b(v, "use_karras_sigmas"),
                b(v, "use_exponential_sigmas"),
                b(v, "use_beta_sigmas"), d(v, "sigma_min"), d(v, "sigma_max"), d(v, "sigma_data"), d(v, "rho"), s(v, "sigma_schedule"),
                d(v, "shift"), b(v, "use_dynamic_shifting"), d(v, "base_shift"), d(v, "max_shift"),
                i(v, "base_image_seq_len"), i(v, "max_image_seq_len"), i(v, "original_inference_steps"),
                d(v, "timestep_scaling"), i(v, "solver_order"), s(v, "algorithm_type"), s(v, "solver_type"),
                b(v, "lower_order_final"), b(v, "euler_at_final"), s(v, "final_sigmas_type"),
                s(v, "variance_type"));
    }

    /**
     * diffusers' resolution-dependent shift for {@code use_dynamic_shifting} (SD3/Flux pipelines'
     * {@code calculate_shift}): {@code mu} linear in the image sequence length between
     * ({@code base_image_seq_len}, {@code base_shift}) and ({@code max_image_seq_len}, {@code max_shift}).
     */
    public double mu(int imageSeqLen) {
        double m = (maxShift - baseShift) / (maxImageSeqLen - baseImageSeqLen);
        return imageSeqLen * m + (baseShift - m * baseImageSeqLen);
    }

    private static void rejectUnsupported(Map<String, Object> v) {
        Map<String, Object> supportedOnly = Map.of("thresholding", false,
                "use_lu_lambdas", false, "use_flow_sigmas", false, "invert_sigmas", false, "stochastic_sampling", false,
                "interpolation_type", "linear", "timestep_type", "discrete", "time_shift_type", "exponential",
                "predict_x0", true);
        supportedOnly.forEach((key, ok) -> {
            Object val = v.get(key);
            if (val != null && !val.equals(ok)) {
                throw new IllegalArgumentException("unsupported scheduler option " + key + "=" + val);
            }
        });
        long spacings = List.of("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas").stream()
                .filter(k -> Boolean.TRUE.equals(v.get(k))).count();
        if (spacings > 1) {
            // diffusers' constructors refuse the same combination
            throw new IllegalArgumentException("only one of use_karras_sigmas, use_exponential_sigmas and "
                    + "use_beta_sigmas can be set");
        }
        for (String key : List.of("shift_terminal", "solver_p")) {
            if (v.get(key) != null) {
                throw new IllegalArgumentException("unsupported scheduler option " + key + "=" + v.get(key));
            }
        }
        Object disabled = v.get("disable_corrector");
        if (disabled instanceof List<?> l && !l.isEmpty()) {
            throw new IllegalArgumentException("unsupported scheduler option disable_corrector=" + l);
        }
        Object lambdaMin = v.get("lambda_min_clipped");
        if (lambdaMin instanceof Number n && n.doubleValue() != Double.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException("unsupported scheduler option lambda_min_clipped=" + n);
        }
    }

    private static Map<String, Object> commonDefaults() {
        Map<String, Object> m = new HashMap<>();
        m.put("num_train_timesteps", 1000.0);
        m.put("beta_start", 0.0001);
        m.put("beta_end", 0.02);
        m.put("beta_schedule", "linear");
        m.put("prediction_type", "epsilon");
        m.put("timestep_spacing", "linspace");
        m.put("steps_offset", 0.0);
        m.put("clip_sample", false);
        m.put("clip_sample_range", 1.0);
        m.put("set_alpha_to_one", true);
        m.put("rescale_betas_zero_snr", false);
        m.put("use_karras_sigmas", false);
        m.put("use_exponential_sigmas", false);
        m.put("use_beta_sigmas", false);
        m.put("sigma_min", Double.NaN);
        m.put("sigma_max", Double.NaN);
        m.put("sigma_data", 0.5);
        m.put("rho", 7.0);
        m.put("sigma_schedule", "karras");
        m.put("shift", 1.0);
        m.put("use_dynamic_shifting", false);
        m.put("base_shift", 0.5);
        m.put("max_shift", 1.15);
        m.put("base_image_seq_len", 256.0);
        m.put("max_image_seq_len", 4096.0);
        m.put("original_inference_steps", 50.0);
        m.put("timestep_scaling", 10.0);
        m.put("solver_order", 2.0);
        m.put("algorithm_type", "dpmsolver++");
        m.put("solver_type", "midpoint");
        m.put("lower_order_final", true);
        m.put("euler_at_final", false);
        m.put("final_sigmas_type", "zero");
        m.put("variance_type", "fixed_small");
        return m;
    }

    private static double d(Map<String, Object> v, String k) {
        return ((Number) v.get(k)).doubleValue();
    }

    private static int i(Map<String, Object> v, String k) {
        return (int) Math.round(d(v, k));
    }

    private static boolean b(Map<String, Object> v, String k) {
        return (Boolean) v.get(k);
    }

    private static String s(Map<String, Object> v, String k) {
        return (String) v.get(k);
    }
}
