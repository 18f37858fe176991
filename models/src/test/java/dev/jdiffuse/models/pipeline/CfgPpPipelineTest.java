package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CFG++ and ComfyUI's other k-diffusion samplers through the real SD 1.x fixture pipeline (CPU fp32). CFG++ runs at
 * guidance scales around 1, where plain samplers skip the negative prompt: with a CFG++ sampler the pipeline guides at
 * every scale, so at 1 the negative prompt changes the image (it steps along the unconditional prediction) where a
 * plain sampler's does not. The other new samplers give a repeatable image in [0, 1] per seed.
 */
class CfgPpPipelineTest {

    private static DiffusionPipeline pipe;

    @BeforeAll
    static void load() {
        pipe = SdLoader.openFolder(Fixtures.require("pipeline_sd1/model"), "sd1", LoadOptions.cpu());
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
        }
    }

    private static GenerationRequest request(String negative, double scale, String sampler) {
        return GenerationRequest.of("a red apple on a table", negative, 64, 64, 8, scale, 11)
                .withSampler(sampler, "karras");
    }

    @Test
    void cfgPpUsesTheNegativePromptAtScaleOneAndBelow() {
        for (String sampler : List.of("euler_cfg_pp", "dpmpp_2m_cfg_pp", "euler_ancestral_cfg_pp")) {
            assertEquals(List.of(), pipe.check(request("blurry", 1.0, sampler)), sampler);
            float[] blurry = pixels(pipe, request("blurry", 1.0, sampler));
            float[] dark = pixels(pipe, request("dark, low contrast", 1.0, sampler));
            assertTrue(maxAbs(blurry, dark) > 1e-3, sampler + ": the negative prompt steers at scale 1");
            float[] low = pixels(pipe, request("blurry", 0.6, sampler));
            assertTrue(maxAbs(blurry, low) > 1e-3, sampler + ": the scale still weighs the conditional prediction");
            assertArrayEquals(blurry, pixels(pipe, request("blurry", 1.0, sampler)), sampler + " repeats");
        }
        // a plain sampler at scale 1 runs the conditional branch alone: the negative prompt changes nothing
        assertArrayEquals(pixels(pipe, request("blurry", 1.0, "euler")),
                pixels(pipe, request("dark, low contrast", 1.0, "euler")));
    }

    @Test
    void comfyUisOtherSamplersGiveRepeatableImages() {
        for (String sampler : List.of("deis", "er_sde", "seeds_2", "exp_heun_2_x0", "exp_heun_2_x0_sde", "ipndm_v",
                "heunpp2", "gradient_estimation", "res_multistep_ancestral", "dpmpp_2m_sde_heun", "unipc_bh1",
                "dpmpp_2s_ancestral_cfg_pp", "res_multistep_cfg_pp", "gradient_estimation_cfg_pp")) {
            GenerationRequest r = request("blurry", 2.0, sampler);
            float[] a = pixels(pipe, r);
            for (float v : a) {
                assertTrue(v >= 0 && v <= 1, sampler + " pixel " + v);
            }
            assertArrayEquals(a, pixels(pipe, r), sampler + " repeats for one seed");
        }
    }
}
