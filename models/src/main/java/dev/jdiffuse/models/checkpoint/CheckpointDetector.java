package dev.jdiffuse.models.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.OpenClipTextKeys;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads the family and hyper-parameters of an original (CompVis/SGM, as model sites share them) Stable Diffusion
 * single-file checkpoint from its keys and tensor shapes, as ComfyUI's {@code model_detection.py} and
 * {@code supported_models.py} do, and writes them as the diffusers configs ({@code unet}, {@code vae},
 * {@code text_encoder[_2]}) a folder of that model would have:
 * <ul>
 *   <li>family: {@code conditioner.embedders.0.transformer} + {@code .1.model} (CLIP-L + OpenCLIP bigG) is SDXL base,
 *       {@code conditioner.embedders.0.model} alone the SDXL refiner (served: bigG as {@code text_encoder_2}); {@code cond_stage_model.model} (OpenCLIP-H) or a
 *       linear {@code proj_in} is SD 2.x; a convolutional {@code proj_in} with {@code cond_stage_model.transformer} is
 *       SD 1.x; {@code joint_blocks} is SD 3 (read by {@link Sd3CheckpointDetector}), {@code double_blocks} FLUX;</li>
 *   <li>UNet widths, resnets and transformer depth per level, context width, linear projections, SDXL's
 *       {@code label_emb} width from shapes ({@link LdmUnetShapes}); heads: 8 per level for SD 1.x, width / 64 for
 *       SD 2.x and SDXL (diffusers' {@code attention_head_dim} [5, 10, 20, 20] and [5, 10, 20]); SDXL's
 *       {@code addition_time_embed_dim} = (label_emb input - pooled width) / 6 time ids (the refiner's 5);</li>
 *   <li>VAE widths, resnets, latent channels from shapes; scaling factor by family (SD 1.x/2.x 0.18215, SDXL
 *       0.13025);</li>
 *   <li>text encoders: width, layers, MLP width, vocabulary and context length from shapes, 64-wide heads,
 *       {@code quick_gelu} for OpenAI CLIP (SD 1.x, SDXL's first), {@code gelu} for OpenCLIP; SD 2.x keeps one
 *       OpenCLIP layer fewer than the file holds (it conditions on the penultimate layer);</li>
 *   <li>prediction: v-prediction when the file has a {@code v_pred} key, or for SD 2.x (the 768-v models, which
 *       most shared SD 2.x checkpoints are; SD 2.x base 512 is epsilon: pass an override), epsilon otherwise; SD 2.x
 *       v-prediction models upcast attention, as diffusers' configs of 2.0-v/2.1 do.</li>
 * </ul>
 * What shapes cannot tell takes the released models' convention (GroupNorm 32 groups, 64-wide heads, sample sizes); a
 * test-size model narrower than those gets the nearest valid value ({@link Widths}).
 */
public final class CheckpointDetector {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SD1_TEXT = "cond_stage_model.transformer.";
    private static final String XL_TEXT_1 = "conditioner.embedders.0.transformer.";
    /** SD 1.x heads per UNet level, whatever the width (diffusers' {@code attention_head_dim: 8}). */
    private static final int SD1_HEADS = 8;
    /** SDXL base: original width, height, crop top, left, target width, height. */
    private static final int SDXL_TIME_IDS = 6;
    /** SDXL refiner: original width, height, crop top, left, aesthetic score. */
    private static final int REFINER_TIME_IDS = 5;

    private CheckpointDetector() {
    }

    /**
     * @param source the file, for messages
     * @param predictionOverride {@code epsilon} / {@code v_prediction}, or null to detect
     */
    public static DetectedCheckpoint detect(StateDict checkpoint, String source, String predictionOverride) {
        CheckpointShapes s = new CheckpointShapes(checkpoint, source);
        refuseOtherFamilies(s);
        LdmUnetShapes u = LdmUnetShapes.read(s);
        boolean xlBase = s.anyStartsWith(XL_TEXT_1) && OpenClipTextKeys.present(s.keys(),
                OpenClipTextKeys.SDXL_SECOND_PREFIX);
        boolean refiner = !xlBase && isRefiner(s);
        CheckpointFamily family;
        TextEncoderSource te1;
        TextEncoderSource te2 = null;
        if (xlBase) {
            family = CheckpointFamily.SDXL;
            te1 = openAiClip(s, XL_TEXT_1, false);
            te2 = openClip(s, OpenClipTextKeys.SDXL_SECOND_PREFIX, true, 0);
        } else if (refiner) {
            family = CheckpointFamily.SDXL_REFINER;
            te1 = null;
            te2 = refinerEncoder(s, u);
        } else if (u.admInChannels() > 0) {
            throw new CheckpointFormatException(source + ": the UNet has label_emb (SDXL) but the file has not "
                    + "SDXL's two text encoders (conditioner.embedders.0.transformer, conditioner.embedders.1.model)");
        } else if (OpenClipTextKeys.present(s.keys(), OpenClipTextKeys.SD2_PREFIX)) {
            family = CheckpointFamily.SD2;
            te1 = openClip(s, OpenClipTextKeys.SD2_PREFIX, false, 1);
        } else if (s.anyStartsWith(SD1_TEXT)) {
            // diffusers' own conversion writes an SD 2.x encoder in transformers' naming too: the UNet tells
            family = u.linearProjection() ? CheckpointFamily.SD2 : CheckpointFamily.SD1;
            te1 = openAiClip(s, SD1_TEXT, family == CheckpointFamily.SD2);
        } else {
            throw new CheckpointFormatException(source + ": the file has a UNet but no text encoder "
                    + "(cond_stage_model.* or conditioner.embedders.*): a UNet alone is not a text-to-image model");
        }
        String[] prediction = prediction(s, family, u, predictionOverride);
        boolean v = DetectedCheckpoint.V_PREDICTION.equals(prediction[0]);
        int pooled = te2 == null ? 0 : te2.detected().projectionDim();
        UNet2DConditionConfig unet = unet(s, family, u, v, pooled, timeIdCount(family));
        AutoencoderKLConfig vae = vae(s, family, v);
        return new DetectedCheckpoint(family, unet, vae, te1, te2, prediction[0], prediction[1]);
    }

    /**
     * The SDXL refiner: its only text encoder is OpenCLIP bigG at {@code conditioner.embedders.0.model.} (SDXL base
     * has CLIP-L there, in transformers' naming, and bigG at {@code .1.model.}).
     */
    private static boolean isRefiner(CheckpointShapes s) {
        return OpenClipTextKeys.present(s.keys(), OpenClipTextKeys.SDXL_REFINER_PREFIX)
                && !s.anyStartsWith(XL_TEXT_1);
    }

    /**
     * The refiner's encoder: bigG with its projection, every resblock kept (diffusers' {@code text_encoder_2}, as
     * SDXL base's second); its UNet must have SDXL's {@code label_emb} (ComfyUI's {@code SDXLRefiner}:
     * {@code adm_in_channels} 2560 = 1280 pooled + 5 x 256).
     */
    private static TextEncoderSource refinerEncoder(CheckpointShapes s, LdmUnetShapes u) {
        if (u.admInChannels() <= 0) {
            throw new CheckpointFormatException(s.source() + ": an SDXL refiner's text encoder "
                    + "(conditioner.embedders.0.model) but the UNet has no label_emb for its pooled text and time ids");
        }
        return openClip(s, OpenClipTextKeys.SDXL_REFINER_PREFIX, true, 0);
    }

    /** Time ids of a family's UNet: 6 for SDXL base, 5 for the refiner (its last is the aesthetic score). */
    private static int timeIdCount(CheckpointFamily family) {
        return family == CheckpointFamily.SDXL_REFINER ? REFINER_TIME_IDS : SDXL_TIME_IDS;
    }

    private static void refuseOtherFamilies(CheckpointShapes s) {
        String p = LdmUnetShapes.PREFIX;
        if (s.anyStartsWith(p + "joint_blocks.")) {
            throw new CheckpointFormatException(s.source() + ": a " + CheckpointFamily.SD3.displayName() + " single file,"
                    + " which Sd3CheckpointDetector reads, not this UNet detector");
        }
        if (s.anyStartsWith(p + "double_blocks.") || s.anyStartsWith("double_blocks.")) {
            throw new CheckpointFormatException(s.source() + ": double-stream blocks of a FLUX-like model that is "
                    + "not FLUX.1 (FLUX.1 files have img_in, double_blocks.N.img_mod and single_blocks.N.modulation, "
                    + "and are read by FluxLoader); FLUX.2, Chroma and other variants are not served");
        }
        if (!LdmUnetShapes.present(s)) {
            String hint = s.has("conv_in.weight") || s.anyStartsWith("down_blocks.")
                    ? "it looks like one diffusers component (a UNet's diffusion_pytorch_model.safetensors): serve the "
                    + "whole diffusers folder instead"
                    : s.anyStartsWith("lora_") || s.keys().stream().anyMatch(k -> k.contains("lora_"))
                    ? "it looks like a LoRA, which is applied to a model, not served as one"
                    : "expected the original Stable Diffusion layout (model.diffusion_model.*, first_stage_model.*, "
                    + "cond_stage_model.* or conditioner.embedders.*)";
            throw new CheckpointFormatException(s.source() + ": not a Stable Diffusion checkpoint: " + hint);
        }
    }

    /** [type, reason]. */
    private static String[] prediction(CheckpointShapes s, CheckpointFamily family, LdmUnetShapes u,
            String override) {
        if (override != null) {
            if (!Set.of(DetectedCheckpoint.EPSILON, DetectedCheckpoint.V_PREDICTION).contains(override)) {
                throw new IllegalArgumentException("prediction type override must be epsilon or v_prediction, got '"
                        + override + "'");
            }
            return new String[] {override, "given"};
        }
        if (s.has("v_pred")) {
            return new String[] {DetectedCheckpoint.V_PREDICTION, "the file's v_pred key"};
        }
        if (family == CheckpointFamily.SD2 && u.inChannels() == 4) {
            return new String[] {DetectedCheckpoint.V_PREDICTION, "the SD 2.x 768-v convention (SD 2.x base 512 "
                    + "models are epsilon: override the prediction type)"};
        }
        return new String[] {DetectedCheckpoint.EPSILON, "the " + family.displayName() + " default"};
    }

    private static UNet2DConditionConfig unet(CheckpointShapes s, CheckpointFamily family, LdmUnetShapes u,
            boolean v, int pooledWidth, int timeIdCount) {
        int levels = u.levels();
        ObjectNode c = JSON.createObjectNode();
        c.put("in_channels", u.inChannels());
        c.put("out_channels", u.outChannels());
        ArrayNode down = c.putArray("down_block_types");
        ArrayNode up = c.putArray("up_block_types");
        ArrayNode heads = c.putArray("attention_head_dim");
        ArrayNode depth = c.putArray("transformer_layers_per_block");
        for (int i = 0; i < levels; i++) {
            boolean attn = u.levelHasAttention().get(i);
            down.add(attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
            up.add(u.levelHasAttention().get(levels - 1 - i) ? "CrossAttnUpBlock2D" : "UpBlock2D");
            int ch = u.channels().get(i);
            heads.add(family == CheckpointFamily.SD1 ? SD1_HEADS : Widths.headsOf(ch));
            // levels without attention: diffusers' configs say 1, except that the mid block takes the last level's
            depth.add(attn ? u.levelDepth().get(i) : i == levels - 1 && u.midDepth() > 0 ? u.midDepth() : 1);
        }
        c.set("block_out_channels", ints(u.channels()));
        c.set("layers_per_block", ints(u.layers()));
        if (u.midDepth() > 0) {
            c.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        } else if (u.midBlock()) {
            c.put("mid_block_type", "UNetMidBlock2D");
        } else {
            c.putNull("mid_block_type");
        }
        c.put("cross_attention_dim", u.contextDim());
        c.put("use_linear_projection", u.linearProjection());
        c.put("upcast_attention", family == CheckpointFamily.SD2 && v);
        c.put("norm_num_groups", Widths.groupsFor(u.channels()));
        c.put("conv_in_kernel", u.convInKernel());
        c.put("conv_out_kernel", u.convOutKernel());
        if (u.timeEmbedDim() != 4 * u.channels().get(0)) {
            c.put("time_embedding_dim", u.timeEmbedDim());
        }
        if (u.admInChannels() > 0) {
            int timeIds = u.admInChannels() - pooledWidth;
            if (timeIds <= 0 || timeIds % timeIdCount != 0) {
                throw new CheckpointFormatException(s.source() + ": label_emb takes " + u.admInChannels()
                        + " features, which is not the pooled text width " + pooledWidth + " plus " + timeIdCount
                        + " time ids");
            }
            c.put("addition_embed_type", "text_time");
            c.put("addition_time_embed_dim", timeIds / timeIdCount);
            c.put("projection_class_embeddings_input_dim", u.admInChannels());
        }
        c.put("sample_size", pixels(family, v) / 8);
        return UNet2DConditionConfig.from(ConfigJson.of(s.source() + " (detected UNet)", c));
    }

    static AutoencoderKLConfig vae(CheckpointShapes s, CheckpointFamily family, boolean v) {
        String p = "first_stage_model.";
        String e = p + "encoder.";
        if (!s.has(e + "conv_in.weight")) {
            throw new CheckpointFormatException(s.source() + ": the file has no VAE (first_stage_model.*); diffusers "
                    + "folders and files with a VAE are served");
        }
        int levels = s.count(e + "down.", ".block.0.conv1.weight");
        List<Integer> channels = new ArrayList<>();
        for (int i = 0; i < levels; i++) {
            channels.add(s.dim(e + "down." + i + ".block.0.conv2.weight", 0));
        }
        ObjectNode c = JSON.createObjectNode();
        c.put("in_channels", s.dim(e + "conv_in.weight", 1));
        c.put("out_channels", s.dim(p + "decoder.conv_out.weight", 0));
        ArrayNode down = c.putArray("down_block_types");
        ArrayNode up = c.putArray("up_block_types");
        for (int i = 0; i < levels; i++) {
            down.add("DownEncoderBlock2D");
            up.add("UpDecoderBlock2D");
        }
        c.set("block_out_channels", ints(channels));
        c.put("layers_per_block", s.count(e + "down.0.block.", ".conv1.weight"));
        c.put("latent_channels", s.dim(p + "decoder.conv_in.weight", 1));
        c.put("norm_num_groups", Widths.groupsFor(channels));
        c.put("sample_size", pixels(family, v));
        c.put("scaling_factor", family == CheckpointFamily.SDXL || family == CheckpointFamily.SDXL_REFINER ? 0.13025
                : 0.18215);
        c.put("force_upcast", true);
        c.put("use_quant_conv", s.has(p + "quant_conv.weight"));
        c.put("use_post_quant_conv", s.has(p + "post_quant_conv.weight"));
        c.put("mid_block_add_attention", s.has(e + "mid.attn_1.q.weight"));
        return AutoencoderKLConfig.read(ConfigJson.of(s.source() + " (detected VAE)", c));
    }

    /** The resolution a family was trained at: SD 1.x 512, SD 2.x 768 (v) or 512, SDXL 1024. */
    private static int pixels(CheckpointFamily family, boolean v) {
        return switch (family) {
            case SDXL, SDXL_REFINER -> 1024;
            case SD2 -> v ? 768 : 512;
            default -> 512;
        };
    }

    /** An OpenAI CLIP text model in transformers' naming under {@code prefix} (with or without {@code text_model.}). */
    private static TextEncoderSource openAiClip(CheckpointShapes s, String prefix, boolean gelu) {
        String base = s.has(prefix + "text_model.embeddings.token_embedding.weight") ? prefix + "text_model." : prefix;
        long[] tok = s.shape(base + "embeddings.token_embedding.weight");
        int layers = s.count(base + "encoder.layers.", ".layer_norm1.weight");
        ObjectNode c = clipConfig((int) tok[0], (int) tok[1], s.dim(base + "embeddings.position_embedding.weight", 0),
                layers, s.dim(base + "encoder.layers.0.mlp.fc1.weight", 0), gelu ? "gelu" : "quick_gelu");
        c.putArray("architectures").add(ClipTextConfig.TEXT_MODEL);
        return new TextEncoderSource(prefix, false, ClipTextConfig.from(ConfigJson.of(s.source() + " (detected "
                + prefix + ")", c)));
    }

    /**
     * An OpenCLIP text tower under {@code prefix}; {@code dropLayers} final resblocks are left out (SD 2.x: 1, it
     * conditions on the penultimate layer).
     */
    private static TextEncoderSource openClip(CheckpointShapes s, String prefix, boolean projection, int dropLayers) {
        long[] tok = s.shape(prefix + "token_embedding.weight");
        int blocks = OpenClipTextKeys.blocks(s.keys(), prefix);
        if (blocks <= dropLayers) {
            throw new CheckpointFormatException(s.source() + ": " + prefix + " has " + blocks + " resblocks");
        }
        ObjectNode c = clipConfig((int) tok[0], (int) tok[1], s.dim(prefix + "positional_embedding", 0),
                blocks - dropLayers, s.dim(prefix + "transformer.resblocks.0.mlp.c_fc.weight", 0), "gelu");
        c.putArray("architectures").add(projection ? ClipTextConfig.WITH_PROJECTION : ClipTextConfig.TEXT_MODEL);
        if (projection) {
            c.put("projection_dim", s.dim(prefix + "text_projection", 1));
        }
        return new TextEncoderSource(prefix, true, ClipTextConfig.from(ConfigJson.of(s.source() + " (detected "
                + prefix + ")", c)));
    }

    /**
     * transformers' {@code CLIPTextConfig} fields: begin/end of text are the last two ids of the vocabulary
     * (49406, 49407 in CLIP's); pad_token_id, which the model does not use, is set to the end-of-text id.
     */
    static ObjectNode clipConfig(int vocab, int width, int positions, int layers, int mlp, String act) {
        ObjectNode c = JSON.createObjectNode();
        c.put("vocab_size", vocab);
        c.put("hidden_size", width);
        c.put("intermediate_size", mlp);
        c.put("num_attention_heads", Widths.headsOf(width));
        c.put("num_hidden_layers", layers);
        c.put("max_position_embeddings", positions);
        c.put("hidden_act", act);
        c.put("layer_norm_eps", 1e-5);
        c.put("bos_token_id", vocab - 2);
        c.put("eos_token_id", vocab - 1);
        c.put("pad_token_id", vocab - 1);
        return c;
    }

    private static ArrayNode ints(List<Integer> values) {
        ArrayNode a = JSON.createArrayNode();
        values.forEach(a::add);
        return a;
    }
}
