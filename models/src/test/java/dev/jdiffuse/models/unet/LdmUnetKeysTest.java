package dev.jdiffuse.models.unet;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spot checks of the LDM -> diffusers UNet key table (the whole SD1 table is exercised by SingleFileUNetTest). */
class LdmUnetKeysTest {

    /** UNet configs by layout name: SD1 (diffusers' defaults, two resnets per block) and an SDXL-shaped one. */
    private static final Map<String, String> CONFIGS = Map.of(
            "sd1", "{\"layers_per_block\":2}",
            "sdxl", "{\"block_out_channels\":[320,640,1280],\"down_block_types\":"
                    + "[\"DownBlock2D\",\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\"],\"up_block_types\":"
                    + "[\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\",\"UpBlock2D\"],\"attention_head_dim\":[5,10,20],"
                    + "\"addition_embed_type\":\"text_time\",\"addition_time_embed_dim\":256,"
                    + "\"projection_class_embeddings_input_dim\":2816}");

    private static Function<String, String> table(String layout) throws Exception {
        return LdmUnetKeys.table(UNet2DConditionConfig.from(
                ConfigJson.of("t", new ObjectMapper().readTree(CONFIGS.get(layout)))));
    }

    @ParameterizedTest(name = "{0}: {1} -> {2}")
    @CsvSource(textBlock = """
            sd1,  input_blocks.0.0.weight,                              conv_in.weight
            sd1,  time_embed.2.bias,                                    time_embedding.linear_2.bias
            sd1,  input_blocks.2.0.in_layers.0.weight,                  down_blocks.0.resnets.1.norm1.weight
            sd1,  input_blocks.3.0.op.weight,                           down_blocks.0.downsamplers.0.conv.weight
            sd1,  input_blocks.4.0.skip_connection.bias,                down_blocks.1.resnets.0.conv_shortcut.bias
            sd1,  input_blocks.5.1.transformer_blocks.0.ff.net.0.proj.weight, \
                  down_blocks.1.attentions.1.transformer_blocks.0.ff.net.0.proj.weight
            sd1,  input_blocks.11.0.emb_layers.1.weight,                down_blocks.3.resnets.1.time_emb_proj.weight
            sd1,  middle_block.2.out_layers.3.weight,                   mid_block.resnets.1.conv2.weight
            sd1,  middle_block.1.proj_in.bias,                          mid_block.attentions.0.proj_in.bias
            sd1,  output_blocks.2.0.out_layers.0.bias,                  up_blocks.0.resnets.2.norm2.bias
            sd1,  output_blocks.2.1.conv.weight,                        up_blocks.0.upsamplers.0.conv.weight
            sd1,  output_blocks.5.1.norm.weight,                        up_blocks.1.attentions.2.norm.weight
            sd1,  output_blocks.5.2.conv.bias,                          up_blocks.1.upsamplers.0.conv.bias
            sd1,  out.0.weight,                                         conv_norm_out.weight
            sd1,  out.2.bias,                                           conv_out.bias
            sdxl, label_emb.0.0.weight,                                 add_embedding.linear_1.weight
            sdxl, label_emb.0.2.bias,                                   add_embedding.linear_2.bias
            sdxl, input_blocks.6.0.op.weight,                           down_blocks.1.downsamplers.0.conv.weight
            sdxl, input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight, \
                  down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k.weight
            sdxl, output_blocks.5.2.conv.weight,                        up_blocks.1.upsamplers.0.conv.weight
            sdxl, output_blocks.8.0.in_layers.2.weight,                 up_blocks.2.resnets.2.conv1.weight
            """)
    void renames(String layout, String ldm, String diffusers) throws Exception {
        assertEquals(diffusers, table(layout).apply(LdmUnetKeys.PREFIX + ldm));
    }

    @Test
    void otherComponentsAreNotUNetKeys() throws Exception {
        Function<String, String> t = table("sd1");
        assertNull(t.apply("first_stage_model.decoder.conv_in.weight"));
        assertNull(t.apply("cond_stage_model.transformer.text_model.final_layer_norm.weight"));
    }

    @Test
    void blocksTheLayoutDoesNotHaveStayUnexpected() throws Exception {
        String p = LdmUnetKeys.PREFIX;
        assertEquals(p + "input_blocks.99.0.weight", table("sd1").apply(p + "input_blocks.99.0.weight"),
                "unknown stays unexpected");
        assertTrue(table("sdxl").apply(p + "output_blocks.9.0.in_layers.2.weight").startsWith(p));
    }
}
