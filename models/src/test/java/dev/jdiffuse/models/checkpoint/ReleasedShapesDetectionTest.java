package dev.jdiffuse.models.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Detection on the tensor shapes of the released checkpoints (headers only, built here: the keys detection reads, with
 * the shapes of {@code v1-5-pruned-emaonly}, {@code v2-1_768-ema-pruned}, {@code sd_xl_base_1.0} and
 * {@code sd_xl_refiner_1.0}), against the configs of the released diffusers folders (stable-diffusion-v1-5,
 * stable-diffusion-2-1, stable-diffusion-xl-base-1.0, stable-diffusion-xl-refiner-1.0),
 * written below as the fields where they differ from diffusers' defaults.
 */
class ReleasedShapesDetectionTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void stableDiffusion15() throws Exception {
        Header h = new Header();
        h.unet(List.of(320, 640, 1280, 1280), List.of(true, true, true, false), List.of(1, 1, 1, 0), 768, false, 0);
        h.vae();
        h.openAiClip("cond_stage_model.transformer.text_model.", 768, 3072, 12);
        DetectedCheckpoint d = CheckpointDetector.detect(h.dict(), "v1-5", null);
        assertEquals(CheckpointFamily.SD1, d.family());
        assertEquals(unet("{\"block_out_channels\": [320, 640, 1280, 1280], \"cross_attention_dim\": 768, "
                + "\"attention_head_dim\": 8, \"sample_size\": 64}"), d.unet());
        assertEquals(vae(512, 0.18215), d.vae());
        assertClip(d.textEncoder().detected(), 768, 3072, 12, 12, "quick_gelu", false);
        assertEquals(DetectedCheckpoint.EPSILON, d.predictionType());
        assertNull(d.textEncoder2());
    }

    @Test
    void stableDiffusion21V() throws Exception {
        Header h = new Header();
        h.unet(List.of(320, 640, 1280, 1280), List.of(true, true, true, false), List.of(1, 1, 1, 0), 1024, true, 0);
        h.vae();
        h.openClip("cond_stage_model.model.", 1024, 4096, 24, 1024);
        DetectedCheckpoint d = CheckpointDetector.detect(h.dict(), "v2-1_768", null);
        assertEquals(CheckpointFamily.SD2, d.family());
        assertEquals(unet("{\"block_out_channels\": [320, 640, 1280, 1280], \"cross_attention_dim\": 1024, "
                + "\"attention_head_dim\": [5, 10, 20, 20], \"use_linear_projection\": true, "
                + "\"upcast_attention\": true, \"sample_size\": 96}"), d.unet());
        assertEquals(vae(768, 0.18215), d.vae());
        // 24 OpenCLIP blocks in the file; diffusers' text encoder keeps 23 (SD 2 conditions on the penultimate layer)
        assertClip(d.textEncoder().detected(), 1024, 4096, 16, 23, "gelu", false);
        assertEquals(DetectedCheckpoint.V_PREDICTION, d.predictionType(), d.predictionReason());

        DetectedCheckpoint base = CheckpointDetector.detect(h.dict(), "v2-1_512", DetectedCheckpoint.EPSILON);
        assertEquals(DetectedCheckpoint.EPSILON, base.predictionType(), "an override wins");
        assertEquals(false, base.unet().upcastAttention());
    }

    @Test
    void stableDiffusionXlBase() throws Exception {
        Header h = new Header();
        h.unet(List.of(320, 640, 1280), List.of(false, true, true), List.of(0, 2, 10), 2048, true, 2816);
        h.vae();
        h.openAiClip("conditioner.embedders.0.transformer.text_model.", 768, 3072, 12);
        h.openClip("conditioner.embedders.1.model.", 1280, 5120, 32, 1280);
        DetectedCheckpoint d = CheckpointDetector.detect(h.dict(), "sd_xl_base_1.0", null);
        assertEquals(CheckpointFamily.SDXL, d.family());
        assertEquals(unet("{\"block_out_channels\": [320, 640, 1280], \"cross_attention_dim\": 2048, "
                + "\"down_block_types\": [\"DownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\"], "
                + "\"up_block_types\": [\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\"], "
                + "\"attention_head_dim\": [5, 10, 20], \"transformer_layers_per_block\": [1, 2, 10], "
                + "\"use_linear_projection\": true, \"addition_embed_type\": \"text_time\", "
                + "\"addition_time_embed_dim\": 256, \"projection_class_embeddings_input_dim\": 2816, "
                + "\"sample_size\": 128}"), d.unet());
        assertEquals(vae(1024, 0.13025), d.vae());
        assertClip(d.textEncoder().detected(), 768, 3072, 12, 12, "quick_gelu", false);
        assertClip(d.textEncoder2().detected(), 1280, 5120, 20, 32, "gelu", true);
        assertEquals(1280, d.textEncoder2().detected().projectionDim());
        assertEquals(DetectedCheckpoint.EPSILON, d.predictionType());
    }

    @Test
    void aVPredKeyMeansVPrediction() {
        Header h = new Header();
        h.unet(List.of(320, 640, 1280), List.of(false, true, true), List.of(0, 2, 10), 2048, true, 2816);
        h.vae();
        h.openAiClip("conditioner.embedders.0.transformer.text_model.", 768, 3072, 12);
        h.openClip("conditioner.embedders.1.model.", 1280, 5120, 32, 1280);
        h.put("v_pred");
        assertEquals(DetectedCheckpoint.V_PREDICTION, CheckpointDetector.detect(h.dict(), "xl-v", null)
                .predictionType());
    }

    /**
     * sd_xl_refiner_1.0: OpenCLIP bigG alone at {@code conditioner.embedders.0.model.}, label_emb 2560 = 1280 pooled +
     * 5 x 256 time ids (ComfyUI's {@code SDXLRefiner}: model_channels 384, transformer depth [0, 4, 4, 0], mid 4,
     * context 1280), against stable-diffusion-xl-refiner-1.0/unet/config.json. The published config says
     * {@code transformer_layers_per_block: 4} for every level; levels without attention have no transformer, so
     * only the attention levels and the mid block (the last level's entry) are compared.
     */
    @Test
    void stableDiffusionXlRefiner() throws Exception {
        Header h = new Header();
        h.unet(List.of(384, 768, 1536, 1536), List.of(false, true, true, false), List.of(0, 4, 4, 0), 1280, true,
                2560, 4);
        h.vae();
        h.openClip("conditioner.embedders.0.model.", 1280, 5120, 32, 1280);
        DetectedCheckpoint d = CheckpointDetector.detect(h.dict(), "sd_xl_refiner_1.0", null);
        assertEquals(CheckpointFamily.SDXL_REFINER, d.family());
        UNet2DConditionConfig published = unet("{\"block_out_channels\": [384, 768, 1536, 1536], "
                + "\"cross_attention_dim\": 1280, \"down_block_types\": [\"DownBlock2D\", \"CrossAttnDownBlock2D\", "
                + "\"CrossAttnDownBlock2D\", \"DownBlock2D\"], \"up_block_types\": [\"UpBlock2D\", "
                + "\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\"], \"attention_head_dim\": [6, 12, 24, "
                + "24], \"transformer_layers_per_block\": 4, \"use_linear_projection\": true, "
                + "\"addition_embed_type\": \"text_time\", \"addition_embed_type_num_heads\": 64, "
                + "\"addition_time_embed_dim\": 256, \"projection_class_embeddings_input_dim\": 2560, "
                + "\"sample_size\": 128}");
        UNet2DConditionConfig found = d.unet();
        List<Integer> attentionLevels = List.of(1, 2);
        for (int i : attentionLevels) {
            assertEquals(published.transformerLayersPerBlock().get(i), found.transformerLayersPerBlock().get(i));
        }
        assertEquals(published.transformerLayersPerBlock().get(3), found.transformerLayersPerBlock().get(3),
                "the mid block's depth (the last level's entry)");
        assertEquals(published, new UNet2DConditionConfig(found.inChannels(), found.outChannels(),
                found.centerInputSample(), found.flipSinToCos(), found.freqShift(), found.downBlockTypes(),
                found.midBlockType(), found.upBlockTypes(), found.blockOutChannels(), found.layersPerBlock(),
                found.downsamplePadding(), found.midBlockScaleFactor(), found.actFn(), found.normNumGroups(),
                found.normEps(), found.crossAttentionDim(), published.transformerLayersPerBlock(),
                found.attentionHeadDim(), found.attentionHeads(), found.useLinearProjection(),
                found.upcastAttention(), found.additionEmbedType(), found.additionTimeEmbedDim(),
                found.projectionClassEmbeddingsInputDim(), found.timeEmbeddingDim(), found.convInKernel(),
                found.convOutKernel(), found.sampleSize()), "every other field as published");
        assertEquals(vae(1024, 0.13025), d.vae());
        assertNull(d.textEncoder(), "no first text encoder");
        assertClip(d.textEncoder2().detected(), 1280, 5120, 20, 32, "gelu", true);
        assertEquals(1280, d.textEncoder2().detected().projectionDim());
        assertEquals("conditioner.embedders.0.model.", d.textEncoder2().prefix());
        assertEquals(DetectedCheckpoint.EPSILON, d.predictionType());
    }

    @Test
    void aRefinerEncoderWithoutLabelEmbIsRefused() {
        Header h = new Header();
        h.unet(List.of(384, 768, 1536, 1536), List.of(false, true, true, false), List.of(0, 4, 4, 0), 1280, true, 0);
        h.vae();
        h.openClip("conditioner.embedders.0.model.", 1280, 5120, 32, 1280);
        assertMessage(h, "label_emb");
    }

    @Test
    void otherFamiliesAndPartsAreRefusedSayingWhat() {
        Header sd3 = new Header();
        sd3.put("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", 4608, 1536);
        assertMessage(sd3, "Sd3CheckpointDetector");

        Header unetOnly = new Header();
        unetOnly.unet(List.of(320, 640, 1280, 1280), List.of(true, true, true, false), List.of(1, 1, 1, 0), 768,
                false, 0);
        assertMessage(unetOnly, "no text encoder");

        Header lora = new Header();
        lora.put("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", 4, 320);
        assertMessage(lora, "LoRA");
    }

    private static void assertMessage(Header h, String part) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> CheckpointDetector.detect(h.dict(), "file", null));
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    private static UNet2DConditionConfig unet(String json) throws Exception {
        return UNet2DConditionConfig.from(ConfigJson.of("expected", JSON.readTree(json)));
    }

    private static AutoencoderKLConfig vae(int sampleSize, double scaling) throws Exception {
        return AutoencoderKLConfig.read(ConfigJson.of("expected", JSON.readTree("{\"block_out_channels\": [128, 256, "
                + "512, 512], \"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", "
                + "\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"], \"up_block_types\": [\"UpDecoderBlock2D\", "
                + "\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"], \"layers_per_block\": 2, "
                + "\"latent_channels\": 4, \"sample_size\": " + sampleSize + ", \"scaling_factor\": " + scaling + "}")));
    }

    private static void assertClip(ClipTextConfig c, int width, int mlp, int heads, int layers, String act,
            boolean projection) {
        assertEquals(List.of(width, mlp, heads, layers, act, projection, 49408, 77, 49407),
                List.of(c.hiddenSize(), c.intermediateSize(), c.numAttentionHeads(), c.numHiddenLayers(),
                        c.hiddenAct(), c.withProjection(), c.vocabSize(), c.maxPositionEmbeddings(), c.eosTokenId()));
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

        void unet(List<Integer> ch, List<Boolean> attn, List<Integer> depth, int context, boolean linear, int adm) {
            unet(ch, attn, depth, context, linear, adm, Math.max(1, depth.get(depth.size() - 1)));
        }

        /** @param midDepth transformer blocks of the mid block (the refiner: 4, while its last level has none) */
        void unet(List<Integer> ch, List<Boolean> attn, List<Integer> depth, int context, boolean linear, int adm,
                int midDepth) {
            String p = "model.diffusion_model.";
            int c0 = ch.get(0);
            put(p + "input_blocks.0.0.weight", c0, 4, 3, 3);
            put(p + "time_embed.0.weight", 4L * c0, c0);
            put(p + "out.2.weight", 4, c0, 3, 3);
            if (adm > 0) {
                put(p + "label_emb.0.0.weight", 4L * c0, adm);
            }
            int k = 1;
            for (int i = 0; i < ch.size(); i++) {
                for (int j = 0; j < 2; j++, k++) {
                    String b = p + "input_blocks." + k + ".";
                    put(b + "0.in_layers.0.weight", ch.get(i));
                    put(b + "0.out_layers.3.weight", ch.get(i), ch.get(i), 3, 3);
                    if (attn.get(i)) {
                        transformer(b + "1.", ch.get(i), depth.get(i), context, linear);
                    }
                }
                if (i < ch.size() - 1) {
                    put(p + "input_blocks." + k++ + ".0.op.weight", ch.get(i), ch.get(i), 3, 3);
                }
            }
            int last = ch.get(ch.size() - 1);
            put(p + "middle_block.0.in_layers.0.weight", last);
            transformer(p + "middle_block.1.", last, midDepth, context, linear);
        }

        private void transformer(String b, int ch, int depth, int context, boolean linear) {
            if (linear) {
                put(b + "proj_in.weight", ch, ch);
            } else {
                put(b + "proj_in.weight", ch, ch, 1, 1);
            }
            for (int t = 0; t < depth; t++) {
                put(b + "transformer_blocks." + t + ".norm1.weight", ch);
            }
            put(b + "transformer_blocks.0.attn2.to_k.weight", ch, context);
        }

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
            put(p + "decoder.conv_in.weight", 512, 4, 3, 3);
            put(p + "decoder.conv_out.weight", 3, 128, 3, 3);
            put(p + "quant_conv.weight", 8, 8, 1, 1);
            put(p + "post_quant_conv.weight", 4, 4, 1, 1);
        }

        void openAiClip(String base, int width, int mlp, int layers) {
            put(base + "embeddings.token_embedding.weight", 49408, width);
            put(base + "embeddings.position_embedding.weight", 77, width);
            for (int i = 0; i < layers; i++) {
                put(base + "encoder.layers." + i + ".layer_norm1.weight", width);
            }
            put(base + "encoder.layers.0.mlp.fc1.weight", mlp, width);
        }

        void openClip(String p, int width, int mlp, int blocks, int projection) {
            put(p + "token_embedding.weight", 49408, width);
            put(p + "positional_embedding", 77, width);
            put(p + "text_projection", width, projection);
            for (int i = 0; i < blocks; i++) {
                put(p + "transformer.resblocks." + i + ".ln_1.weight", width);
            }
            put(p + "transformer.resblocks.0.mlp.c_fc.weight", mlp, width);
        }
    }
}
