package dev.jdiffuse.server.images;

import java.util.Set;

/**
 * AUTOMATIC1111's "discard the next-to-last sigma" (the native {@code discard_penultimate_sigma}) as its samplers and
 * infotext show it: {@code KDiffusionSampler.get_sigmas} ({@code modules/sd_samplers_kdiffusion.py}) computes the
 * levels of {@code steps + 1} steps and drops the next-to-last one for the samplers whose entry's options carry
 * {@code 'discard_next_to_last_sigma': True}, and for every k-diffusion sampler under the setting
 * {@code always_discard_next_to_last_sigma}, then writing {@code Discard penultimate sigma: True} into the infotext.
 * Kept here, below the A1111 routes, because the PNG text of every job writes it.
 */
public final class A1111LevelDrop {

    /** The setting, as an A1111 request's {@code override_settings} may carry it. */
    public static final String SETTING = "always_discard_next_to_last_sigma";

    /** The infotext key A1111 writes when the setting, not the sampler, dropped the level. */
    public static final String INFOTEXT_KEY = "Discard penultimate sigma";

    /**
     * The methods whose entry has the option ({@code samplers_k_diffusion}, A1111 1.9+: DPM2, DPM2 a,
     * DPM++ 3M SDE), by native method name.
     */
    private static final Set<String> METHODS = Set.of("dpm_2", "dpm_2_ancestral", "dpmpp_3m_sde");

    private A1111LevelDrop() {
    }

    /**
     * Whether A1111 drops the level for the native sampler {@code name} by itself (its method's option; in every
     * space, as Forge's {@code get_sigmas} reads it whatever the model: {@code flow_dpm_2} and {@code edm_dpm_2} too).
     */
    public static boolean bySampler(String name) {
        return METHODS.contains(name.replaceFirst("^(flow|edm)_", ""));
    }
}
