package dev.jdiffuse.models.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SD 3 / 3.5 detection on headers with the released files' shapes (built here: the keys detection reads, values never
 * read), against the released diffusers configs. Where the numbers come from (diffusers' {@code single_file_utils.py}
 * and {@code scripts/convert_sd3_to_diffusers.py}, ComfyUI's {@code model_detection.py}):
 * <ul>
 *   <li>SD 3 medium and SD 3.5 medium: {@code context_block.adaLN_modulation.1.bias} has 9216 = 6 x 1536 rows
 *       ({@code infer_diffusers_model_type}), so D = 1536, 24 blocks of 64-wide heads; {@code pos_embed} holds 36864
 *       = 192^2 positions (SD 3) or 147456 = 384^2 (SD 3.5 medium: "sd3.5 2b use pos_embed_max_size=384");</li>
 *   <li>SD 3.5 large: {@code joint_blocks.37} exists ({@code CHECKPOINT_KEY_NAMES["sd35_large"]}), so 38 blocks, D =
 *       64 x 38 = 2432 (the converter sets {@code num_attention_heads = num_layers}), 192^2 positions;</li>
 *   <li>SD 3.5 uses RMS qk-norm ({@code ln_q}); SD 3.5 medium's dual-attention layers are 0..12 ("(0, 1, ..., 12) for
 *       sd3.5"); every release: 16 latent channels, patch 2, joint attention 4096 (T5-XXL), pooled 2048 (CLIP-L 768
 *       + CLIP-G 1280), sample size 128; VAE as SDXL's with 16 latent channels, no quant convs, scaling 1.5305,
 *       shift 0.0609;</li>
 *   <li>text encoders: CLIP ViT-L/14 (768 wide, 12 layers, MLP 3072), OpenCLIP bigG (1280, 32 layers, MLP 5120,
 *       projection 1280), T5 v1.1 XXL (d_model 4096, 24 blocks, 64 heads of 64, d_ff 10240, gated GELU, 32128
 *       tokens).</li>
 * </ul>
 */
class ReleasedSd3ShapesDetectionTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String P = "model.diffusion_model.";

    @Test
    void stableDiffusion35Large() throws Exception {
        Header h = new Header();
        h.mmdit(38, 2432, 192, true, List.of());
        h.vae();
        h.clips();
        h.t5();
        DetectedSd3Checkpoint d = Sd3CheckpointDetector.detect(h.dict(), "sd3.5_large");
        assertEquals(transformer("{\"num_layers\": 38, \"num_attention_heads\": 38, \"caption_projection_dim\": 2432,"
                + " \"pos_embed_max_size\": 192, \"qk_norm\": \"rms_norm\"}"), d.transformer());
        assertReleasedEncodersAndVae(d);
    }

    @Test
    void stableDiffusion35Medium() throws Exception {
        Header h = new Header();
        List<Integer> dual = IntStream.rangeClosed(0, 12).boxed().toList();
        h.mmdit(24, 1536, 384, true, dual);
        h.vae();
        h.clips();
        h.t5();
        DetectedSd3Checkpoint d = Sd3CheckpointDetector.detect(h.dict(), "sd3.5_medium");
        assertEquals(transformer("{\"num_layers\": 24, \"num_attention_heads\": 24, \"caption_projection_dim\": 1536,"
                + " \"pos_embed_max_size\": 384, \"qk_norm\": \"rms_norm\", \"dual_attention_layers\": [0, 1, 2, 3, 4,"
                + " 5, 6, 7, 8, 9, 10, 11, 12]}"), d.transformer());
        assertReleasedEncodersAndVae(d);
    }

    @Test
    void stableDiffusion3MediumWithoutT5() throws Exception {
        Header h = new Header();
        h.mmdit(24, 1536, 192, false, List.of());
        h.vae();
        h.clips();
        DetectedSd3Checkpoint d = Sd3CheckpointDetector.detect(h.dict(), "sd3_medium_incl_clips");
        assertEquals(transformer("{\"num_layers\": 24, \"num_attention_heads\": 24, \"caption_projection_dim\": 1536,"
                + " \"pos_embed_max_size\": 192}"), d.transformer());
        assertNull(d.t5(), "no text_encoders.t5xxl: runs without T5");
        assertEquals(vae(), d.vae());
    }

    @Test
    void filesWithoutTheirClipsAreRefusedNamingThem() {
        Header h = new Header();
        h.mmdit(38, 2432, 192, true, List.of());
        h.vae();
        CheckpointFormatException both = assertThrows(CheckpointFormatException.class,
                () -> Sd3CheckpointDetector.detect(h.dict(), "sd3.5_large"));
        assertTrue(both.getMessage().contains(Sd3CheckpointDetector.CLIP_L)
                && both.getMessage().contains(Sd3CheckpointDetector.CLIP_G), both.getMessage());

        h.clip(Sd3CheckpointDetector.CLIP_L, 768, 3072, 12, 0);
        CheckpointFormatException g = assertThrows(CheckpointFormatException.class,
                () -> Sd3CheckpointDetector.detect(h.dict(), "sd3.5_large"));
        assertTrue(g.getMessage().contains(Sd3CheckpointDetector.CLIP_G)
                && !g.getMessage().contains(Sd3CheckpointDetector.CLIP_L), g.getMessage());

        Header bare = new Header();
        bare.put("joint_blocks.0.x_block.attn.qkv.weight", 3 * 1536, 1536);
        assertTrue(Sd3CheckpointDetector.isSd3(bare.dict().keys()));
        assertThrows(CheckpointFormatException.class, () -> Sd3CheckpointDetector.detect(bare.dict(), "mmdit"));
    }

    private static void assertReleasedEncodersAndVae(DetectedSd3Checkpoint d) throws Exception {
        assertClip(d.clipL().detected(), 768, 3072, 12, 12, "quick_gelu", 768);
        assertFalse(d.clipLProjected(), "released CLIP-L has no text_projection: used unprojected");
        assertClip(d.clipG().detected(), 1280, 5120, 20, 32, "gelu", 1280);
        assertEquals(new T5Config(4096, 64, 10240, 24, 64, 32, 128, T5Config.GATED_GELU, 1e-6, 32128), d.t5());
        assertEquals(vae(), d.vae());
    }

    /** diffusers' {@code SD3Transformer2DModel} config: the fields every release shares, then {@code json}'s. */
    private static SD3TransformerConfig transformer(String json) throws Exception {
        var c = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree("{\"sample_size\": 128, "
                + "\"patch_size\": 2, \"in_channels\": 16, \"attention_head_dim\": 64, \"joint_attention_dim\": 4096, "
                + "\"pooled_projection_dim\": 2048, \"out_channels\": 16}");
        c.setAll((com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(json));
        return SD3TransformerConfig.from(ConfigJson.of("expected", c));
    }

    private static AutoencoderKLConfig vae() throws Exception {
        return AutoencoderKLConfig.read(ConfigJson.of("expected", JSON.readTree("{\"block_out_channels\": [128, 256, "
                + "512, 512], \"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", "
                + "\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"], \"up_block_types\": [\"UpDecoderBlock2D\", "
                + "\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"], \"layers_per_block\": 2, "
                + "\"latent_channels\": 16, \"sample_size\": 1024, \"scaling_factor\": 1.5305, \"shift_factor\": "
                + "0.0609, \"force_upcast\": true, \"use_quant_conv\": false, \"use_post_quant_conv\": false}")));
    }

    private static void assertClip(ClipTextConfig c, int width, int mlp, int heads, int layers, String act,
            int projection) {
        assertEquals(List.of(width, mlp, heads, layers, act, true, projection, 49408, 77, 49407),
                List.of(c.hiddenSize(), c.intermediateSize(), c.numAttentionHeads(), c.numHiddenLayers(),
                        c.hiddenAct(), c.withProjection(), c.projectionDim(), c.vocabSize(),
                        c.maxPositionEmbeddings(), c.eosTokenId()));
    }

    /** Keys with released shapes; values are never read. */
    private static final class Header {
        private final Map<String, long[]> shapes = new LinkedHashMap<>();

        void put(String key, long... shape) {
            shapes.put(key, shape);
        }

        StateDict dict() {
            return StateDict.of(shapes.keySet(), shapes::get, (k, m, t) -> {
                throw new AssertionError("detection read the values of " + k);
            });
        }

        void mmdit(int depth, int d, int side, boolean qkNorm, List<Integer> dual) {
            put(P + "x_embedder.proj.weight", d, 16, 2, 2);
            put(P + "pos_embed", 1, (long) side * side, d);
            put(P + "context_embedder.weight", d, 4096);
            put(P + "y_embedder.mlp.0.weight", d, 2048);
            put(P + "t_embedder.mlp.0.weight", d, 256);
            put(P + "final_layer.linear.weight", 2 * 2 * 16, d);
            put(P + "final_layer.adaLN_modulation.1.weight", 2L * d, d);
            for (int i = 0; i < depth; i++) {
                boolean last = i == depth - 1;
                String x = P + "joint_blocks." + i + ".x_block.";
                String c = P + "joint_blocks." + i + ".context_block.";
                put(x + "attn.qkv.weight", 3L * d, d);
                put(x + "adaLN_modulation.1.weight", (dual.contains(i) ? 9L : 6L) * d, d);
                put(c + "attn.qkv.weight", 3L * d, d);
                put(c + "adaLN_modulation.1.weight", (last ? 2L : 6L) * d, d);
                if (!last) {
                    put(c + "attn.proj.weight", d, d);
                    put(c + "mlp.fc1.weight", 4L * d, d);
                }
                if (qkNorm) {
                    put(x + "attn.ln_q.weight", 64);
                    put(c + "attn.ln_q.weight", 64);
                }
                if (dual.contains(i)) {
                    put(x + "attn2.qkv.weight", 3L * d, d);
                }
            }
        }

        /** SD3's VAE: SDXL's layout with 16 latent channels and no quant convs. */
        void vae() {
            String p = "first_stage_model.";
            int[] ch = {128, 256, 512, 512};
            put(p + "encoder.conv_in.weight", 128, 3, 3, 3);
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 2; j++) {
                    put(p + "encoder.down." + i + ".block." + j + ".conv1.weight", ch[i], i == 0 ? 128 : ch[i - 1], 3,
                            3);
                    put(p + "encoder.down." + i + ".block." + j + ".conv2.weight", ch[i], ch[i], 3, 3);
                }
            }
            put(p + "encoder.mid.attn_1.q.weight", 512, 512, 1, 1);
            put(p + "encoder.conv_out.weight", 32, 512, 3, 3);
            put(p + "decoder.conv_in.weight", 512, 16, 3, 3);
            put(p + "decoder.conv_out.weight", 3, 128, 3, 3);
        }

        void clips() {
            clip(Sd3CheckpointDetector.CLIP_L, 768, 3072, 12, 0);
            clip(Sd3CheckpointDetector.CLIP_G, 1280, 5120, 32, 1280);
        }

        /** A transformers CLIP text model under {@code prefix}; {@code projection} 0 for none. */
        void clip(String prefix, int width, int mlp, int layers, int projection) {
            String base = prefix + "text_model.";
            put(base + "embeddings.token_embedding.weight", 49408, width);
            put(base + "embeddings.position_embedding.weight", 77, width);
            for (int i = 0; i < layers; i++) {
                put(base + "encoder.layers." + i + ".layer_norm1.weight", width);
            }
            put(base + "encoder.layers.0.mlp.fc1.weight", mlp, width);
            if (projection > 0) {
                put(prefix + "text_projection.weight", projection, width);
            }
        }

        /** T5 v1.1 XXL in transformers' naming under {@code text_encoders.t5xxl.transformer.}. */
        void t5() {
            String p = "text_encoders.t5xxl.transformer.";
            put(p + "shared.weight", 32128, 4096);
            put(p + "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 32, 64);
            put(p + "encoder.block.0.layer.0.SelfAttention.q.weight", 4096, 4096);
            put(p + "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 10240, 4096);
            for (int i = 0; i < 24; i++) {
                put(p + "encoder.block." + i + ".layer.0.layer_norm.weight", 4096);
            }
        }
    }
}
