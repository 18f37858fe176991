package dev.jdiffuse.models.unet;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Config reading: the published SD1.5 / SDXL fields, diffusers defaults, and errors naming unsupported fields. */
class UNetConfigTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The fields of runwayml/stable-diffusion-v1-5's unet/config.json that differ from diffusers' defaults. */
    private static final String SD15 = "{\"_class_name\":\"UNet2DConditionModel\",\"act_fn\":\"silu\","
            + "\"attention_head_dim\":8,\"block_out_channels\":[320,640,1280,1280],\"center_input_sample\":false,"
            + "\"cross_attention_dim\":768,\"down_block_types\":[\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\","
            + "\"CrossAttnDownBlock2D\",\"DownBlock2D\"],\"downsample_padding\":1,\"flip_sin_to_cos\":true,"
            + "\"freq_shift\":0,\"in_channels\":4,\"layers_per_block\":2,\"mid_block_scale_factor\":1,"
            + "\"norm_eps\":1e-05,\"norm_num_groups\":32,\"out_channels\":4,\"sample_size\":64,"
            + "\"up_block_types\":[\"UpBlock2D\",\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\","
            + "\"CrossAttnUpBlock2D\"]}";

    /** stabilityai/stable-diffusion-xl-base-1.0's unet/config.json (its non-null fields). */
    private static final String SDXL = "{\"act_fn\":\"silu\",\"addition_embed_type\":\"text_time\","
            + "\"addition_embed_type_num_heads\":64,\"addition_time_embed_dim\":256,\"attention_head_dim\":[5,10,20],"
            + "\"block_out_channels\":[320,640,1280],\"center_input_sample\":false,\"class_embed_type\":null,"
            + "\"cross_attention_dim\":2048,\"down_block_types\":[\"DownBlock2D\",\"CrossAttnDownBlock2D\","
            + "\"CrossAttnDownBlock2D\"],\"downsample_padding\":1,\"dual_cross_attention\":false,"
            + "\"flip_sin_to_cos\":true,\"freq_shift\":0,\"in_channels\":4,\"layers_per_block\":2,"
            + "\"mid_block_scale_factor\":1,\"mid_block_type\":\"UNetMidBlock2DCrossAttn\",\"norm_eps\":1e-05,"
            + "\"norm_num_groups\":32,\"num_attention_heads\":null,\"only_cross_attention\":false,"
            + "\"out_channels\":4,\"projection_class_embeddings_input_dim\":2816,"
            + "\"resnet_time_scale_shift\":\"default\",\"sample_size\":128,\"time_embedding_type\":\"positional\","
            + "\"transformer_layers_per_block\":[1,2,10],\"up_block_types\":[\"CrossAttnUpBlock2D\","
            + "\"CrossAttnUpBlock2D\",\"UpBlock2D\"],\"upcast_attention\":null,\"use_linear_projection\":true}";

    private static ConfigJson json(String text, Map<String, Object> overrides) throws Exception {
        ObjectNode n = (ObjectNode) JSON.readTree(text);
        overrides.forEach((k, v) -> n.set(k, JSON.valueToTree(v)));
        return ConfigJson.of("test-config.json", n);
    }

    @Test
    void sd15HeadCountComesFromAttentionHeadDim() throws Exception {
        UNet2DConditionConfig c = UNet2DConditionConfig.from(json(SD15, Map.of()));
        assertEquals(List.of(8, 8, 8, 8), c.attentionHeads());
        assertEquals(List.of(768, 768, 768, 768), c.crossAttentionDim());
        assertEquals(List.of(2, 2, 2, 2), c.layersPerBlock());
        assertEquals(List.of(1, 1, 1, 1), c.transformerLayersPerBlock());
        assertEquals("UNetMidBlock2DCrossAttn", c.midBlockType());
        assertEquals(1280, c.timeEmbedDim());
        assertFalse(c.useLinearProjection());
        assertFalse(c.isTextTime());
    }

    @Test
    void sdxlFields() throws Exception {
        UNet2DConditionConfig c = UNet2DConditionConfig.from(json(SDXL, Map.of()));
        assertEquals(List.of(5, 10, 20), c.attentionHeads());
        assertEquals(List.of(1, 2, 10), c.transformerLayersPerBlock());
        assertTrue(c.isTextTime());
        assertEquals(256, c.additionTimeEmbedDim());
        assertEquals(2816, c.projectionClassEmbeddingsInputDim());
        assertFalse(c.upcastAttention());
    }

    @Test
    void numAttentionHeadsTakesPrecedence() throws Exception {
        UNet2DConditionConfig c = UNet2DConditionConfig.from(json(SD15, Map.of("num_attention_heads", 4)));
        assertEquals(List.of(4, 4, 4, 4), c.attentionHeads());
        assertEquals(List.of(8, 8, 8, 8), c.attentionHeadDim());
    }

    @Test
    void explicitNullMidBlockMeansNone() throws Exception {
        ObjectNode n = (ObjectNode) JSON.readTree(SD15);
        n.putNull("mid_block_type");
        UNet2DConditionConfig c = UNet2DConditionConfig.from(ConfigJson.of("t", n));
        assertNull(c.midBlockType());
        assertTrue(new UNet2DConditionModel(c).namedParameters().keySet().stream()
                .noneMatch(k -> k.startsWith("mid_block.")));
    }

    @Test
    void unsupportedValuesNameTheirField() {
        Map<String, Object> bad = Map.ofEntries(Map.entry("only_cross_attention", true),
                Map.entry("dual_cross_attention", true), Map.entry("class_embed_type", "projection"),
                Map.entry("num_class_embeds", 10), Map.entry("time_embedding_type", "fourier"),
                Map.entry("addition_embed_type", "text"), Map.entry("resnet_time_scale_shift", "scale_shift"),
                Map.entry("timestep_post_act", "silu"), Map.entry("time_cond_proj_dim", 256),
                Map.entry("attention_type", "gated"), Map.entry("encoder_hid_dim", 1024),
                Map.entry("act_fn", "gelu"), Map.entry("down_block_types", List.of("AttnDownBlock2D",
                        "DownBlock2D", "DownBlock2D", "DownBlock2D")),
                Map.entry("mid_block_type", "UNetMidBlock2DSimpleCrossAttn"),
                Map.entry("layers_per_block", List.of(2, 2)));
        bad.forEach((field, value) -> {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> UNet2DConditionConfig.from(json(SD15, Map.of(field, value))), field);
            assertEquals(field, e.field(), e.getMessage());
        });
    }

    @Test
    void textTimeNeedsItsDimensions() throws Exception {
        ConfigException e = assertThrows(ConfigException.class,
                () -> UNet2DConditionConfig.from(json(SD15, Map.of("addition_embed_type", "text_time"))));
        assertEquals("addition_time_embed_dim", e.field());
    }

    @Test
    void controlNetRejectsGlobalPooling() throws Exception {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ControlNetConfig.from(json(SD15, Map.of("global_pool_conditions", true))));
        assertEquals("global_pool_conditions", e.field());
        ControlNetConfig ok = ControlNetConfig.from(json(SD15, Map.of()));
        assertEquals(List.of(16, 32, 96, 256), ok.conditioningEmbeddingOutChannels());
        assertEquals("rgb", ok.channelOrder());
    }
}
