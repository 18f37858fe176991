package dev.jdiffuse.server.sdapi;

import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A1111 sampler names in each noise space: the method's entry of the model's space, with "Automatic" the method's own
 * schedule where A1111 gives it one and the entry can respace (diffusion and flow levels), the model's own levels on
 * EDM models (whose entries take no respacing, so Karras there would be refused).
 */
class A1111SamplersTest {

    private static A1111Samplers.Choice resolve(String name, String scheduler, NoiseSpace space) {
        return A1111Samplers.resolve(name, "sampler_name", scheduler, space);
    }

    @Test
    void automaticIsTheMethodsOwnScheduleWhereItCanRespace() {
        assertEquals(new A1111Samplers.Choice("dpmpp_3m_sde", "exponential", true), resolve("DPM++ 3M SDE", null,
                NoiseSpace.DIFFUSION));
        assertEquals(new A1111Samplers.Choice("flow_dpmpp_2m_sde", "exponential"), resolve("DPM++ 2M SDE",
                "Automatic", NoiseSpace.FLOW));
        assertEquals(new A1111Samplers.Choice("dpmpp_2m_sde_heun", "exponential"), resolve("DPM++ 2M SDE Heun", null,
                NoiseSpace.DIFFUSION));
        assertEquals(new A1111Samplers.Choice("edm_dpmpp_2m", "default"), resolve("DPM++ 2M", null, NoiseSpace.EDM));
        assertEquals(new A1111Samplers.Choice("edm_euler_ancestral", "default"), resolve("Euler a", "automatic",
                NoiseSpace.EDM));
        assertEquals(new A1111Samplers.Choice("euler_cfg_pp", "default"), resolve("Euler CFG++", null,
                NoiseSpace.DIFFUSION));
        // an explicit scheduler is passed on for the model to accept or refuse
        assertEquals(new A1111Samplers.Choice("edm_dpmpp_2m", "karras"), resolve("DPM++ 2M", "Karras", NoiseSpace.EDM));
    }

    /**
     * The samplers whose A1111 entry carries {@code discard_next_to_last_sigma} (DPM2, DPM2 a, DPM++ 3M SDE, by label,
     * alias, combined name or native name, in every space) drop the next-to-last level; the others do not.
     */
    @Test
    void dpm2AndDpmpp3mSdeDropTheNextToLastLevel() {
        for (String name : List.of("DPM2", "dpm2 a", "k_dpm_2", "DPM2 a Karras", "DPM++ 3M SDE", "dpm_2_ancestral")) {
            for (NoiseSpace space : NoiseSpace.values()) {
                assertTrue(resolve(name, null, space).discardPenultimateSigma(), name + " on " + space);
            }
        }
        for (String name : List.of("Euler", "Euler a", "Heun", "LMS", "DPM++ 2M", "DPM++ 2M SDE", "DPM++ SDE",
                "DPM++ 2S a", "DDIM", "UniPC", "PLMS")) {
            assertFalse(resolve(name, null, NoiseSpace.DIFFUSION).discardPenultimateSigma(), name);
        }
        assertEquals(new A1111Samplers.Choice("flow_dpm_2", "default", true), resolve("DPM2", "simple", NoiseSpace.FLOW));
    }

    /** {@code GET /sdapi/v1/samplers} lists the option as A1111 does, and nowhere else. */
    @Test
    void theListingCarriesTheOption() {
        for (Map<String, Object> s : A1111Samplers.samplers()) {
            Map<?, ?> options = (Map<?, ?>) s.get("options");
            boolean expected = List.of("DPM2", "DPM2 a", "DPM++ 3M SDE").contains(s.get("name"));
            assertEquals(expected, Boolean.TRUE.equals(options.get("discard_next_to_last_sigma")), s.toString());
        }
    }
}
