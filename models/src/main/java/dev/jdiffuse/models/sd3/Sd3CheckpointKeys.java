package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.StateDict;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The key table from Stability's original MMDiT names (SD 3 / 3.5 single files, under {@code model.diffusion_model.})
 * to diffusers' {@code SD3Transformer2DModel} names, as diffusers' {@code convert_sd3_transformer_checkpoint_to_diffusers}
 * ({@code loaders/single_file_utils.py}) maps them:
 * <ul>
 *   <li>{@code x_embedder.proj} -> {@code pos_embed.proj}; {@code pos_embed} [1, M*M, D] -> {@code pos_embed.pos_embed}
 *       (the saved position grid the positions are cropped from); {@code t_embedder.mlp.0/2} ->
 *       {@code time_text_embed.timestep_embedder.linear_1/2}; {@code y_embedder.mlp.0/2} ->
 *       {@code time_text_embed.text_embedder.linear_1/2}; {@code context_embedder} as is; {@code final_layer.linear}
 *       -> {@code proj_out}; {@code final_layer.adaLN_modulation.1} -> {@code norm_out.linear} with its two row halves
 *       swapped;</li>
 *   <li>{@code joint_blocks.i.x_block.}: {@code attn.qkv} [3D, D] (and its bias) split by rows into {@code attn.to_q,
 *       to_k, to_v}; {@code attn.proj} -> {@code attn.to_out.0}; {@code attn.ln_q/ln_k} -> {@code attn.norm_q/norm_k}
 *       (SD 3.5's qk-norm); {@code attn2.*} likewise to {@code attn2.to_q/k/v, to_out.0, norm_q/k} (SD 3.5 medium's
 *       MMDiT-X layers); {@code adaLN_modulation.1} -> {@code norm1.linear}; {@code mlp.fc1/fc2} -> {@code ff.net.0.proj}
 *       / {@code ff.net.2};</li>
 *   <li>{@code joint_blocks.i.context_block.}: {@code attn.qkv} split into {@code attn.add_q_proj, add_k_proj,
 *       add_v_proj}; {@code attn.proj} -> {@code attn.to_add_out}; {@code attn.ln_q/ln_k} -> {@code attn.norm_added_q/k};
 *       {@code adaLN_modulation.1} -> {@code norm1_context.linear}, row halves swapped in the last (context-pre-only)
 *       block; {@code mlp.fc1/fc2} -> {@code ff_context.net.0.proj} / {@code ff_context.net.2}.</li>
 * </ul>
 * The swap: SD3's own final norms split {@code linear(silu(c))} into (shift, scale), diffusers'
 * {@code AdaLayerNormContinuous} into (scale, shift). Keys outside {@code model.diffusion_model.} are left out; keys
 * inside it that the table does not know keep their name, so loading reports them as unexpected.
 */
public final class Sd3CheckpointKeys {

    public static final String PREFIX = "model.diffusion_model.";

    private static final Pattern BLOCK = Pattern.compile("joint_blocks\\.(\\d+)\\.(x_block|context_block)\\.(.+)");
    private static final Map<String, String> TOP = Map.of("x_embedder.proj.", "pos_embed.proj.",
            "t_embedder.mlp.0.", "time_text_embed.timestep_embedder.linear_1.",
            "t_embedder.mlp.2.", "time_text_embed.timestep_embedder.linear_2.",
            "y_embedder.mlp.0.", "time_text_embed.text_embedder.linear_1.",
            "y_embedder.mlp.2.", "time_text_embed.text_embedder.linear_2.",
            "context_embedder.", "context_embedder.", "final_layer.linear.", "proj_out.");
    private static final String[] X_QKV = {"to_q", "to_k", "to_v"};
    private static final String[] CONTEXT_QKV = {"add_q_proj", "add_k_proj", "add_v_proj"};

    /** Where one diffusers tensor comes from: an original key, a third of its rows (0..2) or all (-1), halves swapped. */
    private record Source(String key, int third, boolean swapHalves) {
    }

    private Sd3CheckpointKeys() {
    }

    /**
     * The MMDiT of {@code checkpoint} in diffusers' naming.
     *
     * @param numLayers the number of joint blocks (the last one's context norm has its halves swapped)
     */
    public static StateDict view(StateDict checkpoint, int numLayers) {
        Map<String, Source> table = new LinkedHashMap<>();
        for (String k : checkpoint.keys()) {
            if (k.startsWith(PREFIX)) {
                map(k, k.substring(PREFIX.length()), numLayers, table);
            }
        }
        return StateDict.of(table.keySet(), key -> shape(checkpoint, table.get(key)),
                (key, manager, dtype) -> load(checkpoint, table.get(key), manager, dtype));
    }

    private static void map(String key, String k, int numLayers, Map<String, Source> table) {
        if (k.equals("pos_embed")) {
            table.put(SD3Transformer2DModel.POSITION_BUFFER, new Source(key, -1, false));
            return;
        }
        if (k.startsWith("final_layer.adaLN_modulation.1.")) {
            table.put("norm_out.linear." + suffix(k), new Source(key, -1, true));
            return;
        }
        for (Map.Entry<String, String> e : TOP.entrySet()) {
            if (k.startsWith(e.getKey())) {
                table.put(e.getValue() + k.substring(e.getKey().length()), new Source(key, -1, false));
                return;
            }
        }
        Matcher m = BLOCK.matcher(k);
        if (m.matches()) {
            int i = Integer.parseInt(m.group(1));
            block("transformer_blocks." + i + ".", m.group(2).equals("x_block"), m.group(3), key,
                    i == numLayers - 1, table);
            return;
        }
        table.put(key, new Source(key, -1, false));
    }

    private static void block(String target, boolean x, String rest, String key, boolean last,
            Map<String, Source> table) {
        String attn = rest.startsWith("attn2.") ? "attn2." : rest.startsWith("attn.") ? "attn." : null;
        if (attn != null) {
            String inner = rest.substring(attn.length());
            String[] qkv = x ? X_QKV : CONTEXT_QKV;
            if (inner.startsWith("qkv.")) {
                for (int t = 0; t < 3; t++) {
                    table.put(target + attn + qkv[t] + "." + suffix(inner), new Source(key, t, false));
                }
                return;
            }
            String name = switch (inner.substring(0, inner.indexOf('.'))) {
                case "proj" -> x ? "to_out.0" : "to_add_out";
                case "ln_q" -> x ? "norm_q" : "norm_added_q";
                case "ln_k" -> x ? "norm_k" : "norm_added_k";
                default -> null;
            };
            if (name != null) {
                table.put(target + attn + name + "." + suffix(inner), new Source(key, -1, false));
                return;
            }
        } else if (rest.startsWith("adaLN_modulation.1.")) {
            table.put(target + (x ? "norm1" : "norm1_context") + ".linear." + suffix(rest),
                    new Source(key, -1, !x && last));
            return;
        } else if (rest.startsWith("mlp.fc1.") || rest.startsWith("mlp.fc2.")) {
            String ff = x ? "ff" : "ff_context";
            table.put(target + ff + (rest.startsWith("mlp.fc1.") ? ".net.0.proj." : ".net.2.") + suffix(rest),
                    new Source(key, -1, false));
            return;
        }
        table.put(key, new Source(key, -1, false));
    }

    /** {@code weight} or {@code bias}: the part after the last dot. */
    private static String suffix(String k) {
        return k.substring(k.lastIndexOf('.') + 1);
    }

    private static long[] shape(StateDict checkpoint, Source s) {
        long[] shape = checkpoint.shape(s.key()).clone();
        if (s.third() >= 0) {
            shape[0] /= 3;
        }
        return shape;
    }

    private static NDArray load(StateDict checkpoint, Source s, NDManager manager, DataType dtype) {
        if (s.third() < 0 && !s.swapHalves()) {
            return checkpoint.load(s.key(), manager, dtype);
        }
        try (NDManager scratch = manager.newSubManager()) {
            NDArray full = checkpoint.load(s.key(), scratch, dtype);
            long rows = full.getShape().get(0);
            NDArray part;
            if (s.third() >= 0) {
                part = full.get(new NDIndex("{}:{}", s.third() * rows / 3, (s.third() + 1) * rows / 3));
            } else {
                // (shift, scale) rows -> (scale, shift)
                part = full.get(new NDIndex("{}:", rows / 2)).concat(full.get(new NDIndex(":{}", rows / 2)), 0);
            }
            // a copy of only this part, owned by the caller's manager (the full tensor is freed with the scratch one)
            NDArray own = part.duplicate();
            own.attach(manager);
            return own;
        }
    }
}
