package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.StateDict;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An OpenCLIP text tower as single-file checkpoints carry it ({@code cond_stage_model.model.*}: SD 2.x;
 * {@code conditioner.embedders.1.model.*}: SDXL's second encoder; {@code conditioner.embedders.0.model.*}: the SDXL
 * refiner's only one), seen in transformers' {@code CLIPTextModel[WithProjection]} naming, as diffusers'
 * {@code convert_open_clip_checkpoint} maps it:
 * <ul>
 *   <li>{@code token_embedding.weight} -> {@code text_model.embeddings.token_embedding.weight};
 *       {@code positional_embedding} [77, D] -> {@code text_model.embeddings.position_embedding.weight};
 *       {@code ln_final} -> {@code text_model.final_layer_norm};</li>
 *   <li>{@code transformer.resblocks.i.}: {@code ln_1/ln_2} -> {@code layer_norm1/2}; {@code mlp.c_fc/c_proj} ->
 *       {@code mlp.fc1/fc2}; {@code attn.out_proj} -> {@code self_attn.out_proj}; the fused
 *       {@code attn.in_proj_weight} [3D, D] (and {@code in_proj_bias} [3D]) split by rows into {@code q_proj},
 *       {@code k_proj}, {@code v_proj} in that order (PyTorch's {@code nn.MultiheadAttention} packing);</li>
 *   <li>{@code text_projection} [D, P] (applied as {@code x @ P}) -> {@code text_projection.weight} [P, D], its
 *       transpose, when the model has a projection; dropped otherwise (SD 2.x uses the hidden states only);</li>
 *   <li>resblocks at or beyond the config's {@code num_hidden_layers} are dropped (SD 2.x conditions on the
 *       penultimate layer, so diffusers' text encoder has one layer fewer than the checkpoint), as are
 *       {@code logit_scale} and {@code attn_mask}.</li>
 * </ul>
 */
public final class OpenClipTextKeys {

    public static final String SD2_PREFIX = "cond_stage_model.model.";
    public static final String SDXL_SECOND_PREFIX = "conditioner.embedders.1.model.";
    public static final String SDXL_REFINER_PREFIX = "conditioner.embedders.0.model.";

    private static final Pattern BLOCK = Pattern.compile("transformer\\.resblocks\\.(\\d+)\\.(.+)");
    private static final Map<String, String> TOP = Map.of("token_embedding.weight",
            "text_model.embeddings.token_embedding.weight", "positional_embedding",
            "text_model.embeddings.position_embedding.weight", "ln_final.weight",
            "text_model.final_layer_norm.weight", "ln_final.bias", "text_model.final_layer_norm.bias");
    private static final Map<String, String> IN_BLOCK = Map.of("ln_1.", "layer_norm1.", "ln_2.", "layer_norm2.",
            "mlp.c_fc.", "mlp.fc1.", "mlp.c_proj.", "mlp.fc2.", "attn.out_proj.", "self_attn.out_proj.");
    private static final String[] QKV = {"q_proj", "k_proj", "v_proj"};

    /** Where one transformers tensor comes from: a checkpoint key, a third of its rows (0..2) or all (-1), transposed. */
    private record Source(String key, int third, boolean transpose) {
    }

    private OpenClipTextKeys() {
    }

    /** Whether the checkpoint holds an OpenCLIP text tower under {@code prefix}. */
    public static boolean present(Set<String> keys, String prefix) {
        return keys.contains(prefix + "token_embedding.weight");
    }

    /** The number of {@code transformer.resblocks} under {@code prefix}. */
    public static int blocks(Set<String> keys, String prefix) {
        int n = 0;
        while (keys.contains(prefix + "transformer.resblocks." + n + ".ln_1.weight")) {
            n++;
        }
        return n;
    }

    /** The tower under {@code prefix} as a state dict in transformers' naming, for a model of {@code config}. */
    public static StateDict view(StateDict checkpoint, String prefix, ClipTextConfig config) {
        Map<String, Source> table = new LinkedHashMap<>();
        for (String k : checkpoint.keys()) {
            if (!k.startsWith(prefix)) {
                continue;
            }
            String rest = k.substring(prefix.length());
            if (TOP.containsKey(rest)) {
                table.put(TOP.get(rest), new Source(k, -1, false));
            } else if (rest.equals("text_projection") && config.withProjection()) {
                table.put("text_projection.weight", new Source(k, -1, true));
            } else {
                Matcher m = BLOCK.matcher(rest);
                if (m.matches() && Integer.parseInt(m.group(1)) < config.numHiddenLayers()) {
                    mapBlock("text_model.encoder.layers." + m.group(1) + ".", m.group(2), k, table);
                }
            }
        }
        return StateDict.of(table.keySet(), key -> shape(checkpoint, table.get(key)),
                (key, manager, dtype) -> load(checkpoint, table.get(key), manager, dtype));
    }

    private static void mapBlock(String target, String rest, String key, Map<String, Source> table) {
        for (Map.Entry<String, String> e : IN_BLOCK.entrySet()) {
            if (rest.startsWith(e.getKey())) {
                table.put(target + e.getValue() + rest.substring(e.getKey().length()), new Source(key, -1, false));
                return;
            }
        }
        String suffix = rest.equals("attn.in_proj_weight") ? "weight" : rest.equals("attn.in_proj_bias") ? "bias"
                : null;
        if (suffix != null) {
            for (int i = 0; i < 3; i++) {
                table.put(target + "self_attn." + QKV[i] + "." + suffix, new Source(key, i, false));
            }
        }
        // anything else (attn_mask buffers of some exports) is not a parameter of the text model
    }

    private static long[] shape(StateDict checkpoint, Source s) {
        long[] shape = checkpoint.shape(s.key()).clone();
        if (s.third() >= 0) {
            shape[0] /= 3;
        }
        if (s.transpose()) {
            return new long[] {shape[1], shape[0]};
        }
        return shape;
    }

    private static NDArray load(StateDict checkpoint, Source s, NDManager manager, DataType dtype) {
        if (s.third() < 0 && !s.transpose()) {
            return checkpoint.load(s.key(), manager, dtype);
        }
        try (NDManager scratch = manager.newSubManager()) {
            NDArray full = checkpoint.load(s.key(), scratch, dtype);
            NDArray part;
            if (s.third() >= 0) {
                long rows = full.getShape().get(0) / 3;
                part = full.get(new NDIndex("{}:{}", s.third() * rows, (s.third() + 1) * rows));
            } else {
                part = full.transpose();
            }
            // a copy of only this part, owned by the caller's manager (the fused tensor is freed with the scratch one)
            NDArray own = part.duplicate();
            own.attach(manager);
            return own;
        }
    }
}
