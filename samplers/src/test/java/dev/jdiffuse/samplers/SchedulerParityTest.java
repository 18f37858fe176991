package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.samplers.prediction.EdmPreconditioning;
import dev.jdiffuse.samplers.prediction.Network;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Parity with diffusers for every {@code schedulers/<case>} fixture: the schedule ({@code timesteps}, {@code sigmas},
 * {@code alphas_cumprod}, {@code init_noise_sigma}) and a whole sampling run of the fixture's toy model, step by step,
 * with the scheduler's recorded random draws replayed. Tolerance 1e-5 relative: schedule arrays element-wise
 * ({@link Close#assertRelative}: {@code |a - e| <= 1e-5 max(|e|, 1e-3 max|e|)}); samples in the max norm
 * ({@link Close#assertMaxAbsRelative}: {@code max|a - e| <= 1e-5 max|e|}), because both sides are float32 and a step
 * such as DDPM's {@code c0 x0 + c1 x} cancels O(1) terms into small entries, whose float32 rounding (~1e-7 absolute)
 * is no property of the method.
 *
 * <p>Our samplers run in the variance-exploding state; diffusers' DDPM/DDIM/LCM/DPM-Solver/UniPC keep
 * {@code x_vp = x / sqrt(1 + sigma^2)}, so their trajectories are compared after that conversion at the sigma the step
 * landed on. Heun's diffusers trajectory interleaves the Euler predictions (the inputs of the correction
 * evaluations) with the corrected samples.
 */
class SchedulerParityTest {

    private static final String FOLDER = "schedulers";
    private static final double RTOL = 1e-5;

    @TestFactory
    List<DynamicTest> matchesDiffusers() {
        return Fixtures.eachCase(FOLDER, SchedulerParityTest::runCase);
    }

    /**
     * The cases {@code bench/gpu/gen_sampler_fixtures.py} wrote with diffusers on the device machine (session 11) for
     * the classes added after the shared fixture set: LMS, KDPM2 and KDPM2 ancestral, UniPC bh1, FlowMatchHeun, the
     * {@code use_beta_sigmas} and FlowMatchEuler Karras/beta spacings; kept in this module's test resources (same
     * layout, the same toy model). KDPM2's and KDPM2 ancestral's diffusers runs interleave their midpoint
     * evaluations: {@code timesteps} of length {@code 2n - 1} (each level's, then its midpoint's), {@code sigmas}
     * {@code [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0, 0, 0]}, and a trajectory entry after each of the 2n - 1 calls of
     * {@code step} (the midpoint sample, then the level's); the timesteps are compared with those the network was
     * called at, in order.
     */
    @TestFactory
    List<DynamicTest> matchesDiffusersForTheLaterClasses() throws java.io.IOException {
        Path root = Path.of("src", "test", "resources", "diffusers-cases", "schedulers");
        List<Path> cases;
        try (var dirs = java.nio.file.Files.list(root)) {
            cases = dirs.filter(java.nio.file.Files::isDirectory).sorted().toList();
        }
        return Fixtures.eachCase(cases, "diffusers-cases/schedulers", SchedulerParityTest::runCase);
    }

    private static void runCase(Path dir) throws Exception {
        String name = Fixtures.displayName(dir);
        JsonNode meta = Fixtures.meta(dir);
        SchedulerClass cls = SchedulerClass.fromDiffusersName(meta.get("class").asText());
        Map<String, Object> raw = configMap(dir.resolve("scheduler_config.json"));
        SchedulerConfig config = SchedulerConfig.of(raw, cls);
        int steps = meta.get("steps").asInt();
        JsonNode mu = meta.path("set_timesteps_kwargs").get("mu");
        SamplingSchedule schedule = DiffusersSchedules.of(config, steps, mu == null ? Double.NaN : mu.asDouble());
        boolean heun = cls == SchedulerClass.HEUN || cls == SchedulerClass.FLOW_MATCH_HEUN;
        boolean kdpm2 = midpointLayout(cls);
        boolean vp = cls.variancePreservingSample();
        double worst = 0;
        try (SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            if (!kdpm2) { // KDPM2's midpoint timesteps are checked against the network's calls (runSampler)
                double[] t = heun ? interleave(schedule.timesteps(), false) : schedule.timesteps();
                worst = Math.max(worst,
                        Close.assertRelative(name + " timesteps", io.toDoubleArray("timesteps"), t, RTOL));
            }
            if (io.contains("sigmas")) {
                double[] s = heun ? interleave(schedule.sigmas(), true)
                        : kdpm2 ? kdpm2Sigmas(schedule.sigmas()) : schedule.sigmas();
                worst = Math.max(worst, Close.assertRelative(name + " sigmas", io.toDoubleArray("sigmas"), s, RTOL));
            }
            if (io.contains("alphas_cumprod")) {
                worst = Math.max(worst, Close.assertRelative(name + " alphas_cumprod",
                        io.toDoubleArray("alphas_cumprod"), DiffusersSchedules.alphasCumprod(config), RTOL));
            }
            double sigma0 = schedule.sigma(0);
            double toOurs = vp ? Math.sqrt(1 + sigma0 * sigma0) : 1.0;
            double init = meta.get("init_noise_sigma").asDouble() * toOurs;
            assertEquals(1.0, schedule.initNoiseSigma() / init, RTOL, name + " init_noise_sigma");
            worst = Math.max(worst, runSampler(name, meta, cls, config, raw, schedule, io, toOurs));
        }
        Close.report(name + " " + String.format("%.3e", worst));
    }

    private static double runSampler(String name, JsonNode meta, SchedulerClass cls, SchedulerConfig config,
            Map<String, Object> raw, SamplingSchedule schedule, SafetensorsFile io, double toOurs) {
        int steps = schedule.steps();
        boolean vp = cls.variancePreservingSample();
        double eta = meta.path("step_kwargs").path("eta").asDouble(0.0);
        // the config picks its class's variant (UniPC's solver_type), as a model's default sampler is picked
        Sampler sampler = SamplerCatalog.forSchedulerConfig(cls, raw::get).create(SamplerOptions.of(config).withEta(eta));
        try (NDManager manager = NDManager.newBaseManager()) {
            long[] shape = io.info("x_init").shape();
            NDArray x = manager.create(io.toFloatArray("x_init"), new Shape(shape)).mul(toOurs);
            List<float[]> denoiserInputs = new ArrayList<>();
            List<Double> networkTimesteps = new ArrayList<>();
            Network toy = toyModel(cls);
            Denoiser model = adapter(cls, config).wrap((in, timestep, cond) -> {
                networkTimesteps.add(timestep);
                return toy.forward(in, timestep, cond);
            });
            Denoiser recording = (in, level, cond) -> {
                denoiserInputs.add(in.toFloatArray());
                return model.denoise(in, level, cond);
            };
            List<double[]> after = new ArrayList<>();
            StepListener listener = (step, n, sigma, sample, denoised) ->
                    after.add(toDiffusers(sample.toFloatArray(), vp, sigma));
            ReplayNoise noise = new ReplayNoise(io);
            NDArray result = sampler.sample(recording, x, schedule, null, noise, listener);
            noise.assertAllConsumed(name);
            double[] fin = toDiffusers(result.toFloatArray(), vp, schedule.sigma(steps));

            List<double[]> ours = new ArrayList<>();
            boolean interleaved = cls == SchedulerClass.HEUN || cls == SchedulerClass.FLOW_MATCH_HEUN
                    || midpointLayout(cls);
            for (int k = 0; k < steps; k++) {
                if (interleaved && k < steps - 1) {
                    // Heun's Euler prediction / DPM2's midpoint sample: the input of the step's second evaluation
                    ours.add(toDiffusers(denoiserInputs.get(2 * k + 1), false, 0));
                }
                ours.add(after.get(k));
            }
            double worst = 0;
            if (cls == SchedulerClass.KDPM2) {
                double[] t = networkTimesteps.stream().mapToDouble(Double::doubleValue).toArray();
                worst = Close.assertRelative(name + " timesteps (the network's calls)", io.toDoubleArray("timesteps"),
                        t, RTOL);
            } else if (cls == SchedulerClass.KDPM2_ANCESTRAL) {
                // in the max norm, as the samples: the midpoint is sqrt(s * s_down) with s_down = sqrt(s_next^2 -
                // s_up^2), which diffusers computes in float32 and which cancels where s_up is close to s_next. At
                // the last midpoint s_down = s_next^2 / s exactly, so the midpoint is s_next = sigma_min and its
                // timestep 0, which the double computation gives; diffusers' float32 gives 5.8e-5 (1.6e-5 on Karras
                // levels), 6e-8 of the timestep range
                double[] t = networkTimesteps.stream().mapToDouble(Double::doubleValue).toArray();
                worst = Close.assertMaxAbsRelative(name + " timesteps (the network's calls)",
                        io.toDoubleArray("timesteps"), t, RTOL);
            }
            int recorded = 0;
            while (io.contains("trajectory." + recorded)) {
                recorded++;
            }
            assertEquals(recorded, ours.size(), name + ": number of trajectory entries");
            for (int i = 0; i < recorded; i++) {
                double[] expected = io.toDoubleArray("trajectory." + i);
                worst = Math.max(worst,
                        Close.assertMaxAbsRelative(name + " trajectory." + i, expected, ours.get(i), RTOL));
            }
            worst = Math.max(worst, Close.assertMaxAbsRelative(name + " final", io.toDoubleArray("final"), fin, RTOL));
            return worst;
        }
    }

    /** The fixture's toy "network" (meta.json {@code toy_model}), its output read as the config's prediction type. */
    private static Network toyModel(SchedulerClass cls) {
        double scale = cls == SchedulerClass.EDM_EULER ? 1.0 : 1000.0;
        return (in, timestep, cond) -> {
            double tt = (float) timestep / scale;
            return in.tanh().mul(0.5).add(0.1 * Math.sin(3.0 * tt)).add(in.mul(0.05).mul(tt));
        };
    }

    private interface Adapter {
        Denoiser wrap(Network n);
    }

    private static Adapter adapter(SchedulerClass cls, SchedulerConfig config) {
        if (cls == SchedulerClass.EDM_EULER) {
            EdmPreconditioning edm =
                    new EdmPreconditioning(config.sigmaData(), "v_prediction".equals(config.predictionType()));
            return edm::wrap;
        }
        if (cls.flowMatching()) {
            return PredictionType.FLOW_VELOCITY::wrap;
        }
        return PredictionType.parse(config.predictionType())::wrap;
    }

    private static double[] toDiffusers(float[] ours, boolean vp, double sigma) {
        double f = vp ? 1 / Math.sqrt(1 + sigma * sigma) : 1.0;
        double[] d = new double[ours.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = ours[i] * f;
        }
        return d;
    }

    /** KDPM2 and KDPM2 ancestral: a midpoint evaluation inside each step but the last. */
    private static boolean midpointLayout(SchedulerClass cls) {
        return cls == SchedulerClass.KDPM2 || cls == SchedulerClass.KDPM2_ANCESTRAL;
    }

    /**
     * KDPM2's {@code sigmas} from ours {@code [s0, ..., s_{n-1}, 0]}: {@code cat(s[:1], s[1:].repeat_interleave(2),
     * s[-1:])}.
     */
    private static double[] kdpm2Sigmas(double[] s) {
        List<Double> out = new ArrayList<>();
        out.add(s[0]);
        for (int i = 1; i < s.length; i++) {
            out.add(s[i]);
            out.add(s[i]);
        }
        out.add(s[s.length - 1]);
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** diffusers writes Python's {@code -Infinity} (e.g. {@code lambda_min_clipped}) into its JSON. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> configMap(Path file) throws java.io.IOException {
        ObjectMapper json = new ObjectMapper().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS.mappedFeature());
        return json.readValue(file.toFile(), Map.class);
    }

    /** diffusers' Heun layout: {@code [v0, v1, v1, ..., v_{n-1}, v_{n-1}]} (plus the final sigma for sigmas). */
    private static double[] interleave(double[] v, boolean hasFinal) {
        int n = hasFinal ? v.length - 1 : v.length;
        List<Double> out = new ArrayList<>();
        out.add(v[0]);
        for (int i = 1; i < n; i++) {
            out.add(v[i]);
            out.add(v[i]);
        }
        if (hasFinal) {
            out.add(v[n]);
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** Replays {@code noises.0, noises.1, ...} in order, checking each requested shape. */
    private static final class ReplayNoise implements NoiseSource {
        private final SafetensorsFile io;
        private int next;

        ReplayNoise(SafetensorsFile io) {
            this.io = io;
        }

        @Override
        public NDArray normal(NDManager manager, Shape shape) {
            String key = "noises." + next++;
            if (!io.contains(key)) {
                throw new AssertionError("sampler drew more noise than diffusers (no " + key + ")");
            }
            assertArrayEquals(io.info(key).shape(), shape.getShape(), key + " shape");
            return manager.create(io.toFloatArray(key), shape);
        }

        void assertAllConsumed(String name) {
            assertEquals(false, io.contains("noises." + next),
                    name + ": diffusers drew more noise than the sampler (" + Arrays.toString(new int[] {next}) + ")");
        }
    }
}
