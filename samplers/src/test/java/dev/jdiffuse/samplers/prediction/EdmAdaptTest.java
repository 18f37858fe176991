package dev.jdiffuse.samplers.prediction;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseLevel;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An EDM scheduler config (diffusers' EDMEulerScheduler / EDMDPMSolverMultistepScheduler, as Playground v2.5 ships)
 * puts the network under EDM's preconditioning (Karras et al. 2022, Table 1: {@code c_in = 1/sqrt(s^2 + sd^2)},
 * {@code c_skip = sd^2/(s^2 + sd^2)}, {@code c_out = +-s sd/sqrt(s^2 + sd^2)}), not the variance-preserving epsilon
 * adapter; and the k-diffusion methods run there under {@code edm_} names.
 */
class EdmAdaptTest {

    /** A network that returns 3 times its (already scaled) input and records the scale it was given. */
    private static final double[] SEEN = new double[2];
    private static final Network TIMES_THREE = (in, t, c) -> {
        SEEN[0] = in.getFloat(0);
        SEEN[1] = t;
        return in.mul(3);
    };

    private static SchedulerConfig config(String className, String prediction, double sigmaData) {
        return SchedulerConfig.of(Map.of("_class_name", className, "prediction_type", prediction, "sigma_data",
                sigmaData), SchedulerClass.EDM_EULER);
    }

    @Test
    void edmConfigsAreEdmPreconditioned() {
        double s = 2.0;
        double sd = 0.5;
        double norm = s * s + sd * sd;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1f});
            NoiseLevel level = new NoiseLevel(s, Math.log(s) / 4, 0, 1);
            for (String prediction : List.of("epsilon", "v_prediction")) {
                Denoiser d = PredictionType.adapt(config("EDMEulerScheduler", prediction, sd), TIMES_THREE);
                float out = d.denoise(x, level, null).getFloat(0);
                double cOut = (prediction.equals("v_prediction") ? -1 : 1) * s * sd / Math.sqrt(norm);
                assertEquals(sd * sd / norm + cOut * 3 / Math.sqrt(norm), out, 1e-6, prediction);
                assertEquals(1 / Math.sqrt(norm), SEEN[0], 1e-6, "c_in");
                assertEquals(Math.log(s) / 4, SEEN[1], 1e-12, "c_noise is the level's timestep");
            }
            // a discrete-time config keeps the epsilon adapter: x - s F(x / sqrt(s^2 + 1))
            SchedulerConfig euler = SchedulerConfig.of(Map.of("_class_name", "EulerDiscreteScheduler"),
                    SchedulerClass.EULER);
            float eps = PredictionType.adapt(euler, TIMES_THREE).denoise(x, new NoiseLevel(s, 500, 0, 1), null)
                    .getFloat(0);
            assertEquals(1 - s * 3 / Math.sqrt(s * s + 1), eps, 1e-6);
            assertThrows(IllegalArgumentException.class,
                    () -> PredictionType.adapt(config("EDMEulerScheduler", "sample", sd), TIMES_THREE));
        }
    }

    @Test
    void kdiffusionMethodsHaveEdmEntries() {
        List<String> edm = SamplerCatalog.of(NoiseSpace.EDM).stream().map(SamplerCatalog.Entry::name).toList();
        assertTrue(edm.containsAll(List.of("edm_euler", "edm_dpmpp_2m", "edm_dpmpp_2m_sde", "edm_euler_ancestral",
                "edm_heun", "edm_dpmpp_sde", "edm_dpmpp_3m_sde", "edm_euler_cfg_pp")), edm.toString());
        assertEquals("edm_dpmpp_2m", SamplerCatalog.inSpace("dpmpp_2m", NoiseSpace.EDM));
        assertEquals("edm_euler", SamplerCatalog.inSpace("euler", NoiseSpace.EDM));
        assertEquals("ddim", SamplerCatalog.inSpace("ddim", NoiseSpace.EDM), "no EDM form: refused by the model");
        assertEquals("edm_dpmpp_2m", SamplerCatalog.forDiffusersClass("EDMDPMSolverMultistepScheduler").name());
        assertTrue(SamplerCatalog.sampler("edm_euler_cfg_pp").orElseThrow().needsUnconditional());
    }

    @Test
    void anEdmEntryRunsItsMethod() {
        for (String name : List.of("dpmpp_2m", "euler_ancestral", "deis")) {
            assertArrayEquals(new Object[] {SamplerCatalog.sampler(name).orElseThrow().create(
                            dev.jdiffuse.samplers.SamplerOptions.DEFAULTS)},
                    new Object[] {SamplerCatalog.sampler("edm_" + name).orElseThrow().create(
                            dev.jdiffuse.samplers.SamplerOptions.DEFAULTS)}, name);
        }
    }
}
