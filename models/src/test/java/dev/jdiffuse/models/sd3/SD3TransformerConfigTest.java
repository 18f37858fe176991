package dev.jdiffuse.models.sd3;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.dit.DiTConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SD3TransformerConfigTest {

    private static ConfigJson json(String text) throws Exception {
        return ConfigJson.of("test config.json", new ObjectMapper().readTree(text));
    }

    @Test
    void defaultsFollowDiffusers() throws Exception {
        SD3TransformerConfig c = SD3TransformerConfig.from(json("{\"caption_projection_dim\": 1152}"));
        assertEquals(18, c.numLayers());
        assertEquals(1152, c.innerDim());
        assertEquals(96, c.posEmbedMaxSize());
        assertEquals(List.of(), c.dualAttentionLayers());
        assertNull(c.qkNorm());
        DiTConfig d = DiTConfig.from(json("{}"));
        assertEquals(1152, d.innerDim());
        assertEquals(4, d.outChannels());
        assertEquals(1000, d.numEmbedsAdaNorm());
    }

    @Test
    void unsupportedValuesNameTheField() throws Exception {
        ConfigException e = assertThrows(ConfigException.class,
                () -> SD3TransformerConfig.from(json("{\"caption_projection_dim\": 1152, \"qk_norm\": \"layer_norm\"}")));
        assertEquals("qk_norm", e.field());
        e = assertThrows(ConfigException.class, () -> SD3TransformerConfig.from(json("{\"caption_projection_dim\": 64}")));
        assertEquals("caption_projection_dim", e.field());
        e = assertThrows(ConfigException.class, () -> SD3TransformerConfig.from(
                json("{\"caption_projection_dim\": 1152, \"num_layers\": 2, \"dual_attention_layers\": [2]}")));
        assertEquals("dual_attention_layers", e.field());
        e = assertThrows(ConfigException.class, () -> DiTConfig.from(json("{\"norm_type\": \"ada_norm\"}")));
        assertEquals("norm_type", e.field());
        e = assertThrows(ConfigException.class, () -> DiTConfig.from(json("{\"activation_fn\": \"geglu\"}")));
        assertEquals("activation_fn", e.field());
    }
}
