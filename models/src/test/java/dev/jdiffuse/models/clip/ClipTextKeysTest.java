package dev.jdiffuse.models.clip;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class ClipTextKeysTest {

    private static final String Q = "text_model.encoder.layers.3.self_attn.q_proj.weight";

    @Test
    void transformersKeysWithAndWithoutTextModelPrefix() {
        assertEquals(Q, ClipTextKeys.fromTransformers(Q));
        assertEquals(Q, ClipTextKeys.fromTransformers("encoder.layers.3.self_attn.q_proj.weight"));
        assertEquals("text_model.final_layer_norm.bias", ClipTextKeys.fromTransformers("final_layer_norm.bias"));
        assertEquals("text_projection.weight", ClipTextKeys.fromTransformers("text_projection.weight"));
    }

    @Test
    void singleFilePrefixes() {
        assertEquals(Q, ClipTextKeys.fromSingleFile("cond_stage_model.transformer." + Q));
        assertEquals(Q, ClipTextKeys.fromSingleFile("cond_stage_model.transformer.encoder.layers.3.self_attn.q_proj"
                + ".weight"));
        assertEquals(Q, ClipTextKeys.fromSingleFile("conditioner.embedders.0.transformer." + Q));
        assertNull(ClipTextKeys.fromSingleFile("model.diffusion_model.input_blocks.0.0.weight"));
        assertNull(ClipTextKeys.fromSingleFile("first_stage_model.decoder.conv_in.weight"));
        assertNull(ClipTextKeys.fromSingleFile("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"));
    }
}
