package dev.jdiffuse.models.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.sd3.Sd3CheckpointKeys;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.t5.T5Keys;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads an original Stable Diffusion 3 / 3.5 single file (as Stability and model sites ship it:
 * {@code sd3_medium_incl_clips_t5xxlfp8.safetensors}, ...) from its keys and shapes, as ComfyUI's
 * {@code detect_unet_config} (mmdit branch) and diffusers' {@code convert_sd3_transformer_checkpoint_to_diffusers} /
 * {@code scripts/convert_sd3_to_diffusers.py} do, and writes the configs of the diffusers folder of that model:
 * <ul>
 *   <li>MMDiT ({@code model.diffusion_model.}): {@code x_embedder.proj} [D, C, p, p] gives the width D, the latent
 *       channels C and the patch size p; depth = number of {@code joint_blocks}; {@code final_layer.linear}
 *       [p*p*out, D] the output channels; {@code pos_embed} [1, M*M, D] the position grid side M
 *       ({@code pos_embed_max_size}: 192 for SD 3 and SD 3.5 large, 384 for SD 3.5 medium);
 *       {@code context_embedder} [D, J] the joint attention width J; {@code y_embedder.mlp.0} [D, P] the pooled width
 *       P; {@code attn.ln_q} [d] present means SD 3.5's RMS qk-norm with head width d; blocks with
 *       {@code x_block.attn2} are the dual-attention (MMDiT-X) layers; the last block must be context-pre-only (no
 *       context {@code attn.proj}, no context {@code mlp}), as diffusers' model builds it;</li>
 *   <li>heads: the qk-norm's head width when there is one, else 64-wide heads as every release has (diffusers'
 *       converter sets {@code num_attention_heads = num_layers} with D = 64 x depth); {@code sample_size} 128 (1024
 *       px), which no shape carries, as the converter sets it;</li>
 *   <li>VAE ({@code first_stage_model.}, LDM names): widths and channels from shapes
 *       ({@link CheckpointDetector}), and SD3's published latent statistics: scaling factor 1.5305, shift 0.0609;</li>
 *   <li>text encoders: CLIP-L ({@code text_encoders.clip_l.transformer.}, quick_gelu) and OpenCLIP bigG
 *       ({@code text_encoders.clip_g.transformer.}, gelu, projection from {@code text_projection.weight}), both in
 *       transformers' naming, are required; the T5 v1.1 encoder ({@code text_encoders.t5xxl.transformer.}) is
 *       optional and its config is read from its shapes ({@link T5Config#detect}).</li>
 * </ul>
 */
public final class Sd3CheckpointDetector {

    public static final String CLIP_L = "text_encoders.clip_l.transformer.";
    public static final String CLIP_G = "text_encoders.clip_g.transformer.";
    /** SD3's published latent normalisation ({@code vae/config.json} of every SD 3 / 3.5 release). */
    public static final double VAE_SCALING = 1.5305;
    public static final double VAE_SHIFT = 0.0609;
    /** Latent side the released models were trained at: 128 (1024 px), as diffusers' converter sets it. */
    public static final int SAMPLE_SIZE = 128;
    /** The head width of every released MMDiT. */
    static final int HEAD_DIM = 64;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String P = Sd3CheckpointKeys.PREFIX;
    private static final String BARE_BLOCK = "joint_blocks.0.x_block.attn.qkv.weight";
    private static final String VAE_PREFIX = "first_stage_model.";
    private static final String TEXT_ENCODERS = "text_encoders.";

    private Sd3CheckpointDetector() {
    }

    /** Whether {@code keys} are an SD 3 / 3.5 MMDiT's, with or without the {@code model.diffusion_model.} prefix. */
    public static boolean isSd3(Set<String> keys) {
        return keys.contains(P + BARE_BLOCK) || keys.contains(BARE_BLOCK);
    }

    /**
     * Whether {@code keys} hold an MMDiT without the {@code model.diffusion_model.} prefix and no VAE, as GGUF files
     * ({@code sd3.5_large-Q8_0.gguf}) ship it: its VAE comes from beside it, and {@link #withMmditPrefix} gives the
     * names {@link #detect} reads.
     */
    public static boolean isBareMmdit(Set<String> keys) {
        return keys.contains(BARE_BLOCK) && !keys.contains(P + BARE_BLOCK)
                && keys.stream().noneMatch(k -> k.startsWith(VAE_PREFIX));
    }

    /** {@code file} with its bare MMDiT keys under {@code model.diffusion_model.}; text encoder keys as they are. */
    public static StateDict withMmditPrefix(StateDict file) {
        return file.renamed(k -> k.startsWith(TEXT_ENCODERS) ? k : P + k);
    }

    public static DetectedSd3Checkpoint detect(StateDict checkpoint, String source) {
        return detect(checkpoint, source, null);
    }

    /**
     * As {@link #detect(StateDict, String)}, with the VAE's config given ({@code vae/config.json} of a diffusers VAE
     * folder beside an MMDiT-only file) instead of read from {@code first_stage_model.*}; null: read from the file.
     */
    public static DetectedSd3Checkpoint detect(StateDict checkpoint, String source, AutoencoderKLConfig vaeGiven) {
        CheckpointShapes s = new CheckpointShapes(checkpoint, source);
        if (!s.has(P + BARE_BLOCK)) {
            throw new CheckpointFormatException(source + ": an SD 3/3.5 MMDiT alone (joint_blocks.* without "
                    + "model.diffusion_model., no VAE, no text encoders): serve the checkpoint that bundles them, or "
                    + "the diffusers folder");
        }
        requireClips(s);
        SD3TransformerConfig transformer = transformer(s);
        AutoencoderKLConfig vae = vaeGiven != null ? vaeGiven : vae(s);
        if (vae.latentChannels() != transformer.inChannels()) {
            throw new CheckpointFormatException(source + ": the VAE has " + vae.latentChannels() + " latent channels "
                    + "but the MMDiT takes " + transformer.inChannels());
        }
        boolean projected = s.has(CLIP_L + "text_projection.weight");
        TextEncoderSource clipL = clip(s, CLIP_L, "quick_gelu");
        TextEncoderSource clipG = clip(s, CLIP_G, "gelu");
        T5Config t5 = s.has(T5Keys.SINGLE_FILE_PREFIXES.get(0) + "shared.weight")
                ? T5Config.detect(checkpoint.renamed(T5Keys::fromSingleFile)) : null;
        return new DetectedSd3Checkpoint(transformer, vae, clipL, clipG, t5, projected);
    }

    /** Both CLIP encoders or a message naming the missing one(s); T5 may be absent. */
    private static void requireClips(CheckpointShapes s) {
        List<String> missing = new ArrayList<>();
        for (String p : List.of(CLIP_L, CLIP_G)) {
            if (!s.has(clipBase(s, p) + "embeddings.token_embedding.weight")) {
                missing.add(p + "*");
            }
        }
        if (!missing.isEmpty()) {
            throw new CheckpointFormatException(s.source() + ": an SD 3/3.5 single file without its CLIP text "
                    + "encoder(s) " + String.join(" and ", missing) + " (SD 3 needs CLIP-L and CLIP-G; T5 is optional)."
                    + " Files such as sd3.5_large.safetensors ship the MMDiT and VAE only: put clip_l.safetensors and "
                    + "clip_g.safetensors (and optionally t5xxl_fp16.safetensors) in " + Sd3TextEncoderFiles.FOLDER
                    + "/ beside it, as Stability's repository lays them out, or use a file that bundles the encoders "
                    + "(e.g. sd3_medium_incl_clips.safetensors) or the diffusers folder");
        }
    }

    private static SD3TransformerConfig transformer(CheckpointShapes s) {
        long[] proj = s.shape(P + "x_embedder.proj.weight");
        int width = (int) proj[0];
        int patch = (int) proj[2];
        int depth = s.count(P + "joint_blocks.", ".x_block.attn.qkv.weight");
        String last = P + "joint_blocks." + (depth - 1) + ".context_block.";
        if (s.has(last + "attn.proj.weight") || s.has(last + "mlp.fc1.weight")) {
            throw new CheckpointFormatException(s.source() + ": the last joint block (" + (depth - 1) + ") updates its "
                    + "context (context_block.attn.proj / mlp); SD 3's last block is context-pre-only");
        }
        String lnQ = P + "joint_blocks.0.x_block.attn.ln_q.weight";
        boolean qkNorm = s.has(lnQ);
        int headDim = qkNorm ? s.dim(lnQ, 0) : width % HEAD_DIM == 0 ? HEAD_DIM : width;
        if (width % headDim != 0) {
            throw new CheckpointFormatException(s.source() + ": the qk-norm head width " + headDim
                    + " does not divide the MMDiT width " + width);
        }
        long patches = s.shape(P + "pos_embed")[1];
        int side = (int) Math.round(Math.sqrt(patches));
        if ((long) side * side != patches) {
            throw new CheckpointFormatException(s.source() + ": pos_embed holds " + patches + " positions, not a "
                    + "square grid");
        }
        int outPerPatch = s.dim(P + "final_layer.linear.weight", 0);
        ObjectNode c = JSON.createObjectNode();
        c.put("sample_size", SAMPLE_SIZE);
        c.put("patch_size", patch);
        c.put("in_channels", (int) proj[1]);
        c.put("num_layers", depth);
        c.put("attention_head_dim", headDim);
        c.put("num_attention_heads", width / headDim);
        c.put("joint_attention_dim", s.dim(P + "context_embedder.weight", 1));
        c.put("caption_projection_dim", s.dim(P + "context_embedder.weight", 0));
        c.put("pooled_projection_dim", s.dim(P + "y_embedder.mlp.0.weight", 1));
        c.put("out_channels", outPerPatch / (patch * patch));
        c.put("pos_embed_max_size", side);
        ArrayNode dual = c.putArray("dual_attention_layers");
        for (int i = 0; i < depth; i++) {
            if (s.has(P + "joint_blocks." + i + ".x_block.attn2.qkv.weight")) {
                dual.add(i);
            }
        }
        if (qkNorm) {
            c.put("qk_norm", "rms_norm");
        } else {
            c.putNull("qk_norm");
        }
        return SD3TransformerConfig.from(ConfigJson.of(s.source() + " (detected MMDiT)", c));
    }

    /** The LDM-named VAE's shapes with SD3's latent statistics and 1024 px sample size. */
    private static AutoencoderKLConfig vae(CheckpointShapes s) {
        AutoencoderKLConfig v = CheckpointDetector.vae(s, CheckpointFamily.SD3, false);
        return new AutoencoderKLConfig(v.inChannels(), v.outChannels(), v.downBlockTypes(), v.upBlockTypes(),
                v.blockOutChannels(), v.layersPerBlock(), v.actFn(), v.latentChannels(), v.normNumGroups(),
                SAMPLE_SIZE * 8, VAE_SCALING, VAE_SHIFT, null, null, true, v.useQuantConv(), v.usePostQuantConv(),
                v.midBlockAddAttention());
    }

    /** {@code prefix + "text_model."} when the encoder is saved with transformers' wrapper, else {@code prefix}. */
    private static String clipBase(CheckpointShapes s, String prefix) {
        return s.has(prefix + "text_model.embeddings.token_embedding.weight") ? prefix + "text_model." : prefix;
    }

    /**
     * A {@code CLIPTextModelWithProjection} in transformers' naming under {@code prefix}; its projection width is
     * {@code text_projection.weight}'s rows, or the hidden width when the file has none (CLIP-L of released files,
     * used unprojected).
     */
    private static TextEncoderSource clip(CheckpointShapes s, String prefix, String act) {
        String base = clipBase(s, prefix);
        long[] tok = s.shape(base + "embeddings.token_embedding.weight");
        ObjectNode c = CheckpointDetector.clipConfig((int) tok[0], (int) tok[1],
                s.dim(base + "embeddings.position_embedding.weight", 0),
                s.count(base + "encoder.layers.", ".layer_norm1.weight"),
                s.dim(base + "encoder.layers.0.mlp.fc1.weight", 0), act);
        c.putArray("architectures").add(ClipTextConfig.WITH_PROJECTION);
        String projection = prefix + "text_projection.weight";
        if (prefix.equals(CLIP_G) && !s.has(projection)) {
            throw new CheckpointFormatException(s.source() + ": CLIP-G has no " + projection + "; SD 3 conditions on "
                    + "its projected pooled output");
        }
        c.put("projection_dim", s.has(projection) ? s.dim(projection, 0) : (int) tok[1]);
        return new TextEncoderSource(prefix, false, ClipTextConfig.from(ConfigJson.of(s.source() + " (detected "
                + prefix + ")", c)));
    }
}
