package dev.jdiffuse.server.comfy;

import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every ComfyUI sampler name the server lists runs a native sampler: on diffusion models one of that space, on flow
 * models its {@code flow_} entry, except the methods without a flow form here (DDIM, DDPM, LCM, UniPC, RES multistep
 * ancestral, the CFG++ samplers), which stay diffusion samplers and are refused by the model's check.
 */
class ComfySamplersTest {

    private static final List<String> NO_FLOW_FORM = List.of("ddim", "ddpm", "lcm", "uni_pc", "uni_pc_bh2",
            "res_multistep_ancestral", "euler_cfg_pp", "euler_ancestral_cfg_pp", "dpmpp_2m_cfg_pp",
            "dpmpp_2s_ancestral_cfg_pp", "res_multistep_cfg_pp", "gradient_estimation_cfg_pp");

    @Test
    void everyListedNameRunsANativeSamplerOfTheModelsSpace() {
        for (String comfy : ComfySamplers.samplerNames()) {
            String diffusion = ComfySamplers.sampler(comfy, NoiseSpace.DIFFUSION);
            assertEquals(NoiseSpace.DIFFUSION, SamplerCatalog.sampler(diffusion).orElseThrow().space(), comfy);
            String flow = ComfySamplers.sampler(comfy, NoiseSpace.FLOW);
            NoiseSpace expected = NO_FLOW_FORM.contains(comfy) ? NoiseSpace.DIFFUSION : NoiseSpace.FLOW;
            assertEquals(expected, SamplerCatalog.sampler(flow).orElseThrow().space(), comfy + " on flow: " + flow);
        }
        assertTrue(ComfySamplers.samplerNames().containsAll(List.of("deis", "er_sde", "seeds_2", "exp_heun_2_x0",
                "exp_heun_2_x0_sde", "gradient_estimation", "heunpp2", "ipndm_v", "dpmpp_2m_sde_heun",
                "dpmpp_2m_sde_heun_gpu", "res_multistep_ancestral", "uni_pc_bh2")));
    }

    /** ComfyUI's {@code KSampler.DISCARD_PENULTIMATE_SIGMA_SAMPLERS}, exactly: no other listed name drops a level. */
    @Test
    void dpm2AndUniPcDropTheNextToLastLevel() {
        List<String> dropping = ComfySamplers.samplerNames().stream()
                .filter(ComfySamplers::discardsPenultimateSigma).toList();
        assertEquals(List.of("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"), dropping);
    }

    /** The SDE samplers' {@code _gpu} variants (ComfyUI's Brownian tree on the GPU) are the same samplers here. */
    @Test
    void gpuVariantsAreTheSameSamplers() {
        for (String name : List.of("dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde")) {
            for (NoiseSpace space : List.of(NoiseSpace.DIFFUSION, NoiseSpace.FLOW)) {
                assertEquals(ComfySamplers.sampler(name, space), ComfySamplers.sampler(name + "_gpu", space), name);
            }
        }
    }
}
