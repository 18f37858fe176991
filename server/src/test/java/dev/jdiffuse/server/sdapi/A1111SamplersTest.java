package dev.jdiffuse.server.sdapi;

import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
        assertEquals(new A1111Samplers.Choice("dpmpp_3m_sde", "exponential"), resolve("DPM++ 3M SDE", null,
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
}
