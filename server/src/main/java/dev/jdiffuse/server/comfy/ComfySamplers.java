package dev.jdiffuse.server.comfy;

import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * ComfyUI's {@code comfy/samplers.py} names ({@code KSAMPLER_NAMES + ["ddim", "uni_pc", ...]},
 * {@code SCHEDULER_NAMES}) mapped onto the native sampler catalogue, for the ones it has.
 *
 * <p>Samplers: the k-diffusion names are the native names ({@code euler}, {@code euler_ancestral}, {@code heun},
 * {@code dpm_2}, {@code dpm_2_ancestral}, {@code lms}, {@code dpmpp_2s_ancestral}, {@code dpmpp_sde}, {@code dpmpp_2m},
 * {@code dpmpp_2m_sde} (diffusers' midpoint SDE-DPM-Solver++), {@code dpmpp_3m_sde}, {@code ipndm},
 * {@code res_multistep}, {@code res_multistep_ancestral}, {@code dpmpp_2m_sde_heun}, {@code ipndm_v}, {@code deis},
 * {@code heunpp2}, {@code gradient_estimation}, {@code er_sde}, {@code seeds_2}, {@code exp_heun_2_x0},
 * {@code exp_heun_2_x0_sde}, the CFG++ ones ({@code euler_cfg_pp}, {@code euler_ancestral_cfg_pp},
 * {@code dpmpp_2m_cfg_pp}, {@code dpmpp_2s_ancestral_cfg_pp}, {@code res_multistep_cfg_pp},
 * {@code gradient_estimation_cfg_pp}: diffusion models only), {@code lcm}, {@code ddpm}); on flow models each runs its {@code flow_} entry where it
 * has one; the
 * SDE methods draw their Brownian increments from the request's noise stream where ComfyUI draws them from a
 * Brownian tree, so its {@code _gpu} variants (the tree on the GPU) are the same samplers here. {@code ddim} is DDIM with eta 0 (ComfyUI runs it as Euler, the same
 * update on the same sigmas), {@code uni_pc} and {@code uni_pc_bh2} are UniPC with {@code B(h) = h} and
 * {@code e^h - 1} (the native {@code unipc_bh1} and {@code unipc}: diffusers' order-2 UniPC); {@code euler} on a flow (FLUX, SD3) or EDM model is that
 * space's Euler. Schedulers: {@code karras} and {@code exponential} are those sigma spacings; {@code normal} (timesteps
 * evenly spaced from the first to the last, {@code normal_scheduler}) is the {@code linspace} spacing;
 * {@code sgm_uniform} ({@code linspace(start, end, steps + 1)[:-1]}) is {@code trailing}; {@code ddim_uniform}
 * (every {@code T // steps}-th timestep from 1) is {@code leading}; {@code simple} (the model's sigmas at even
 * strides from the end) is {@code trailing}. On flow models {@code normal}, {@code simple} and {@code sgm_uniform}
 * are the model's own shifted schedule. {@code kl_optimal} and {@code beta} are the native ones
 * ({@code kl_optimal_scheduler}'s and {@code beta_scheduler}'s formulas, diffusion models only; where two of
 * {@code beta}'s quantiles round to one timestep ComfyUI runs fewer steps and jdiffuse refuses).
 * {@code linear_quadratic} is not listed.
 *
 * <p>{@code dpm_2}, {@code dpm_2_ancestral}, {@code uni_pc} and {@code uni_pc_bh2} run on the levels of one step more
 * without the next-to-last one (the native {@code discard_penultimate_sigma}), as ComfyUI's
 * {@code KSampler.calculate_sigmas} does for its {@code DISCARD_PENULTIMATE_SIGMA_SAMPLERS}; with {@code denoise} below
 * 1 on the dropped levels of {@code int(steps / denoise)} steps, whose tail the run takes ({@code KSampler.set_steps}).
 */
final class ComfySamplers {

    /** ComfyUI name to native sampler name. */
    static final Map<String, String> SAMPLERS = map("euler", "euler", "euler_ancestral", "euler_ancestral",
            "heun", "heun", "dpm_2", "dpm_2", "dpm_2_ancestral", "dpm_2_ancestral", "lms", "lms",
            "dpmpp_2s_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_sde",
            "dpmpp_2m", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde",
            "dpmpp_3m_sde", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "dpmpp_3m_sde", "ddpm", "ddpm", "lcm", "lcm",
            "ddim", "ddim", "uni_pc", "unipc_bh1", "uni_pc_bh2", "unipc", "ipndm", "ipndm", "res_multistep", "res_multistep",
            "res_multistep_ancestral", "res_multistep_ancestral", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun",
            "dpmpp_2m_sde_heun_gpu", "dpmpp_2m_sde_heun", "ipndm_v", "ipndm_v", "deis", "deis", "heunpp2", "heunpp2",
            "gradient_estimation", "gradient_estimation", "er_sde", "er_sde", "seeds_2", "seeds_2",
            "exp_heun_2_x0", "exp_heun_2_x0", "exp_heun_2_x0_sde", "exp_heun_2_x0_sde",
            "euler_cfg_pp", "euler_cfg_pp", "euler_ancestral_cfg_pp", "euler_ancestral_cfg_pp",
            "dpmpp_2m_cfg_pp", "dpmpp_2m_cfg_pp", "dpmpp_2s_ancestral_cfg_pp", "dpmpp_2s_ancestral_cfg_pp",
            "res_multistep_cfg_pp", "res_multistep_cfg_pp", "gradient_estimation_cfg_pp", "gradient_estimation_cfg_pp");

    /** ComfyUI's {@code KSampler.DISCARD_PENULTIMATE_SIGMA_SAMPLERS} ({@code comfy/samplers.py}), by ComfyUI name. */
    static final Set<String> DISCARD_PENULTIMATE_SIGMA = Set.of("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2");

    /** ComfyUI name to native schedule name on diffusion (noise-prediction) models. */
    static final Map<String, String> SCHEDULERS = map("simple", "trailing", "sgm_uniform", "trailing",
            "karras", "karras", "exponential", "exponential", "ddim_uniform", "leading", "normal", "linspace",
            "kl_optimal", "kl_optimal", "beta", "beta");

    private static Map<String, String> map(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(m);
    }

    private ComfySamplers() {
    }

    static List<String> samplerNames() {
        return List.copyOf(SAMPLERS.keySet());
    }

    static List<String> schedulerNames() {
        return List.copyOf(SCHEDULERS.keySet());
    }

    /** The native sampler for a listed ComfyUI name on a model sampling in {@code space}. */
    static String sampler(String comfy, NoiseSpace space) {
        String s = SAMPLERS.get(comfy);
        return s == null ? null : SamplerCatalog.inSpace(s, space);
    }

    /**
     * Whether ComfyUI's KSampler drops the next-to-last level for the sampler it names {@code comfy} (not the
     * {@code _gpu} variants nor any other: ComfyUI's set is exact names).
     */
    static boolean discardsPenultimateSigma(String comfy) {
        return DISCARD_PENULTIMATE_SIGMA.contains(comfy);
    }

    /** The native schedule for a listed ComfyUI scheduler on a model sampling in {@code space}. */
    static String schedule(String comfy, NoiseSpace space) {
        if (space == NoiseSpace.FLOW && List.of("normal", "simple", "sgm_uniform").contains(comfy)) {
            return "default";
        }
        return SCHEDULERS.get(comfy);
    }
}
