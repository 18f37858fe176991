package dev.jdiffuse.models.unet;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigJson;
import org.junit.jupiter.api.Test;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spot checks of the LDM -> diffusers UNet key table (the whole SD1 table is exercised by SingleFileUNetTest). */
class LdmUnetKeysTest {

    private static Function<String, String> table(String json) throws Exception {
        return LdmUnetKeys.table(UNet2DConditionConfig.from(ConfigJson.of("t", new ObjectMapper().readTree(json))));
    }

    @Test
    void sd1Layout() throws Exception {
        Function<String, String> t = table("{\"layers_per_block\":2}");
        String p = LdmUnetKeys.PREFIX;
        assertEquals("conv_in.weight", t.apply(p + "input_blocks.0.0.weight"));
        assertEquals("time_embedding.linear_2.bias", t.apply(p + "time_embed.2.bias"));
        assertEquals("down_blocks.0.resnets.1.norm1.weight", t.apply(p + "input_blocks.2.0.in_layers.0.weight"));
        assertEquals("down_blocks.0.downsamplers.0.conv.weight", t.apply(p + "input_blocks.3.0.op.weight"));
        assertEquals("down_blocks.1.resnets.0.conv_shortcut.bias", t.apply(p + "input_blocks.4.0.skip_connection.bias"));
        assertEquals("down_blocks.1.attentions.1.transformer_blocks.0.ff.net.0.proj.weight",
                t.apply(p + "input_blocks.5.1.transformer_blocks.0.ff.net.0.proj.weight"));
        assertEquals("down_blocks.3.resnets.1.time_emb_proj.weight", t.apply(p + "input_blocks.11.0.emb_layers.1.weight"));
        assertEquals("mid_block.resnets.1.conv2.weight", t.apply(p + "middle_block.2.out_layers.3.weight"));
        assertEquals("mid_block.attentions.0.proj_in.bias", t.apply(p + "middle_block.1.proj_in.bias"));
        assertEquals("up_blocks.0.resnets.2.norm2.bias", t.apply(p + "output_blocks.2.0.out_layers.0.bias"));
        assertEquals("up_blocks.0.upsamplers.0.conv.weight", t.apply(p + "output_blocks.2.1.conv.weight"));
        assertEquals("up_blocks.1.attentions.2.norm.weight", t.apply(p + "output_blocks.5.1.norm.weight"));
        assertEquals("up_blocks.1.upsamplers.0.conv.bias", t.apply(p + "output_blocks.5.2.conv.bias"));
        assertEquals("conv_norm_out.weight", t.apply(p + "out.0.weight"));
        assertEquals("conv_out.bias", t.apply(p + "out.2.bias"));
        assertNull(t.apply("first_stage_model.decoder.conv_in.weight"));
        assertNull(t.apply("cond_stage_model.transformer.text_model.final_layer_norm.weight"));
        assertEquals(p + "input_blocks.99.0.weight", t.apply(p + "input_blocks.99.0.weight"), "unknown stays unexpected");
    }

    @Test
    void sdxlLayout() throws Exception {
        Function<String, String> t = table("{\"block_out_channels\":[320,640,1280],\"down_block_types\":"
                + "[\"DownBlock2D\",\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\"],\"up_block_types\":"
                + "[\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\",\"UpBlock2D\"],\"attention_head_dim\":[5,10,20],"
                + "\"addition_embed_type\":\"text_time\",\"addition_time_embed_dim\":256,"
                + "\"projection_class_embeddings_input_dim\":2816}");
        String p = LdmUnetKeys.PREFIX;
        assertEquals("add_embedding.linear_1.weight", t.apply(p + "label_emb.0.0.weight"));
        assertEquals("add_embedding.linear_2.bias", t.apply(p + "label_emb.0.2.bias"));
        assertEquals("down_blocks.1.downsamplers.0.conv.weight", t.apply(p + "input_blocks.6.0.op.weight"));
        assertEquals("down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k.weight",
                t.apply(p + "input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight"));
        assertEquals("up_blocks.1.upsamplers.0.conv.weight", t.apply(p + "output_blocks.5.2.conv.weight"));
        assertEquals("up_blocks.2.resnets.2.conv1.weight", t.apply(p + "output_blocks.8.0.in_layers.2.weight"));
        assertTrue(t.apply(p + "output_blocks.9.0.in_layers.2.weight").startsWith(p));
    }
}
