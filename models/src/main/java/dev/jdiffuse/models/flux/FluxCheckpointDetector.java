package dev.jdiffuse.models.flux;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a {@link FluxTransformerConfig} from the keys and shapes of an original (Black Forest Labs) FLUX.1 file, with
 * or without ComfyUI's {@code model.diffusion_model.} prefix; no tensor is read. D = {@code img_in.weight} rows:
 * <ul>
 *   <li>{@code num_layers} / {@code num_single_layers}: the highest {@code double_blocks.i} / {@code single_blocks.i}
 *       index + 1 (as diffusers' {@code convert_flux_transformer_checkpoint_to_diffusers} counts them, so a gap shows up
 *       as missing keys when loading);</li>
 *   <li>{@code attention_head_dim}: the length of {@code double_blocks.0.img_attn.norm.query_norm.scale} (the RMS qk-norm acts per
 *       head); {@code num_attention_heads} = D / head dim;</li>
 *   <li>{@code in_channels}: {@code img_in.weight} columns; {@code joint_attention_dim}: {@code txt_in.weight} columns;
 *       {@code pooled_projection_dim}: {@code vector_in.in_layer.weight} columns; {@code out_channels}:
 *       {@code final_layer.linear.weight} rows (patch size 1: FLUX packs 2x2 patches outside the model);
 *       {@code guidance_embeds}: whether {@code guidance_in} is present (dev yes, schnell no), as diffusers'
 *       {@code infer_diffusers_model_type} tells flux-dev from flux-schnell;</li>
 *   <li>{@code axes_dims_rope} is in no shape: FLUX.1's (16, 56, 56) when the head width is 128, else the caller must
 *       give it (from the model's {@code config.json}).</li>
 * </ul>
 * The MLP width must be 4 D (diffusers' model fixes {@code mlp_ratio} 4).
 */
public final class FluxCheckpointDetector {

    /** FLUX.1's RoPE axes (time/index, height, width), diffusers' default {@code axes_dims_rope}. */
    public static final List<Integer> FLUX1_AXES = List.of(16, 56, 56);
    /** The head width every FLUX.1 release has, the only one {@link #FLUX1_AXES} fit. */
    public static final int FLUX1_HEAD_DIM = 128;
    /** diffusers' {@code FluxTransformer2DModel} MLP width over D. */
    static final int MLP_RATIO = 4;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern DOUBLE = Pattern.compile("double_blocks\\.(\\d+)\\..+");
    private static final Pattern SINGLE = Pattern.compile("single_blocks\\.(\\d+)\\..+");

    private FluxCheckpointDetector() {
    }

    /**
     * Whether {@code keys} are an original FLUX.1 transformer's ({@code img_in}, {@code double_blocks} and
     * {@code single_blocks} with their per-block modulations; FLUX.2 and Chroma, also {@code double_blocks}, have
     * none), bare or under {@code model.diffusion_model.}. A single-file loader asks this before the SD / SDXL / SD3
     * tests. Reads no tensor.
     */
    public static boolean isFluxCheckpoint(Set<String> keys) {
        return FluxCheckpointKeys.prefixOf(keys) != null;
    }

    /** The config of the FLUX.1 transformer in {@code checkpoint}, FLUX.1's RoPE axes for 128-wide heads. */
    public static FluxTransformerConfig detect(StateDict checkpoint, String source) {
        return detect(checkpoint, source, null);
    }

    /**
     * As {@link #detect(StateDict, String)} with the RoPE axes given ({@code axes_dims_rope} of the model's
     * {@code config.json}); null: {@link #FLUX1_AXES} for 128-wide heads, and a {@link CheckpointFormatException}
     * asking for a config otherwise.
     */
    public static FluxTransformerConfig detect(StateDict checkpoint, String source, List<Integer> axesDimsRope) {
        String p = FluxCheckpointKeys.prefixOf(checkpoint.keys());
        if (p == null) {
            throw new CheckpointFormatException(source + ": not an original FLUX.1 transformer (expected "
                    + String.join(", ", FluxCheckpointKeys.SIGNATURE) + ", bare or under "
                    + FluxCheckpointKeys.PREFIX + ")");
        }
        Shapes s = new Shapes(checkpoint, source, p);
        int width = s.dim("img_in.weight", 0);
        int doubles = s.blocks(DOUBLE);
        int singles = s.blocks(SINGLE);
        String qNorm = "double_blocks.0.img_attn.norm.query_norm.scale";
        int headDim = s.dim(qNorm, 0);
        if (headDim <= 0 || width % headDim != 0) {
            throw new CheckpointFormatException(source + ": the qk-norm's head width " + headDim + " (" + p + qNorm
                    + ") does not divide the stream width " + width);
        }
        int mlp = s.dim("double_blocks.0.img_mlp.0.weight", 0);
        if (mlp != MLP_RATIO * width) {
            throw new CheckpointFormatException(source + ": the MLP is " + mlp + " wide for a stream width of " + width
                    + "; FLUX.1's (and diffusers' FluxTransformer2DModel's) is " + MLP_RATIO + " x the width");
        }
        List<Integer> axes = axesDimsRope;
        if (axes == null) {
            if (headDim != FLUX1_HEAD_DIM) {
                throw new CheckpointFormatException(source + ": a FLUX transformer with " + headDim + "-wide heads; "
                        + "the file does not store the RoPE axes (axes_dims_rope) and FLUX.1's " + FLUX1_AXES
                        + " fit " + FLUX1_HEAD_DIM + "-wide heads only: give the model's transformer config.json");
            }
            axes = FLUX1_AXES;
        }
        ObjectNode c = JSON.createObjectNode();
        c.put("patch_size", 1);
        c.put("in_channels", s.dim("img_in.weight", 1));
        c.put("out_channels", s.dim("final_layer.linear.weight", 0));
        c.put("num_layers", doubles);
        c.put("num_single_layers", singles);
        c.put("attention_head_dim", headDim);
        c.put("num_attention_heads", width / headDim);
        c.put("joint_attention_dim", s.dim("txt_in.weight", 1));
        c.put("pooled_projection_dim", s.dim("vector_in.in_layer.weight", 1));
        c.put("guidance_embeds", s.has("guidance_in.in_layer.weight"));
        axes.forEach(c.putArray("axes_dims_rope")::add);
        return FluxTransformerConfig.from(ConfigJson.of(source + " (detected FLUX transformer)", c));
    }

    /**
     * {@code given} (e.g. read from a diffusers {@code transformer/config.json} beside the file) after checking that
     * the file's shapes agree with it; a {@link CheckpointFormatException} lists every field that differs.
     */
    public static FluxTransformerConfig requireMatches(FluxTransformerConfig given, StateDict checkpoint,
            String source) {
        FluxTransformerConfig found = detect(checkpoint, source, given.axesDimsRope());
        List<String> diff = new ArrayList<>();
        compare(diff, "in_channels", given.inChannels(), found.inChannels());
        compare(diff, "out_channels", given.outChannels(), found.outChannels());
        compare(diff, "num_layers", given.numLayers(), found.numLayers());
        compare(diff, "num_single_layers", given.numSingleLayers(), found.numSingleLayers());
        compare(diff, "attention_head_dim", given.attentionHeadDim(), found.attentionHeadDim());
        compare(diff, "num_attention_heads", given.numAttentionHeads(), found.numAttentionHeads());
        compare(diff, "joint_attention_dim", given.jointAttentionDim(), found.jointAttentionDim());
        compare(diff, "pooled_projection_dim", given.pooledProjectionDim(), found.pooledProjectionDim());
        compare(diff, "guidance_embeds", given.guidanceEmbeds(), found.guidanceEmbeds());
        if (!diff.isEmpty()) {
            throw new CheckpointFormatException(source + ": the file does not fit the given FLUX transformer config: "
                    + String.join("; ", diff));
        }
        return given;
    }

    private static void compare(List<String> diff, String field, Object given, Object found) {
        if (!given.equals(found)) {
            diff.add(field + " is " + given + " in the config, " + found + " in the file");
        }
    }

    /** Header questions under the transformer's prefix. */
    private record Shapes(StateDict weights, String source, String prefix) {

        boolean has(String key) {
            return weights.keys().contains(prefix + key);
        }

        int dim(String key, int axis) {
            if (!has(key)) {
                throw new CheckpointFormatException(source + ": expected tensor " + prefix + key + " is missing");
            }
            long[] shape = weights.shape(prefix + key);
            if (axis >= shape.length) {
                throw new CheckpointFormatException(source + ": " + prefix + key + " has " + shape.length
                        + " dimensions, expected more than " + axis);
            }
            return Math.toIntExact(shape[axis]);
        }

        /** Highest block index + 1 among keys matching {@code block} after the prefix. */
        int blocks(Pattern block) {
            int n = 0;
            for (String k : weights.keys()) {
                if (k.startsWith(prefix)) {
                    Matcher m = block.matcher(k.substring(prefix.length()));
                    if (m.matches()) {
                        n = Math.max(n, Integer.parseInt(m.group(1)) + 1);
                    }
                }
            }
            return n;
        }
    }
}
