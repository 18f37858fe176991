package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.StateDict;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The original Black Forest Labs layout of a FLUX.1 transformer, built from a diffusers {@code FluxTransformer2DModel}'s
 * tensors by undoing diffusers' {@code convert_flux_transformer_checkpoint_to_diffusers} (written here from that
 * function, independently of {@link FluxCheckpointKeys}): q, k, v rows fused back into {@code img_attn.qkv} /
 * {@code txt_attn.qkv}; q, k, v, mlp rows into {@code linear1}; {@code norm_out.linear}'s (scale, shift) halves swapped
 * back to BFL's (shift, scale); every other tensor renamed.
 */
public final class BflLayout {

    private BflLayout() {
    }

    /** BFL name -> tensor (float32, in {@code m}); fails unless every diffusers tensor was used exactly once. */
    public static Map<String, NDArray> fromDiffusers(StateDict diffusers, int numLayers, int numSingleLayers, NDManager m) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        Set<String> used = new HashSet<>();
        Builder b = new Builder(diffusers, m, out, used);
        b.rename("img_in", "x_embedder");
        b.rename("txt_in", "context_embedder");
        b.rename("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
        b.rename("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
        b.rename("vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
        b.rename("vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
        if (diffusers.keys().contains("time_text_embed.guidance_embedder.linear_1.weight")) {
            b.rename("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
            b.rename("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
        }
        for (int i = 0; i < numLayers; i++) {
            String o = "double_blocks." + i + ".";
            String d = "transformer_blocks." + i + ".";
            b.rename(o + "img_mod.lin", d + "norm1.linear");
            b.rename(o + "txt_mod.lin", d + "norm1_context.linear");
            b.fuse(o + "img_attn.qkv", d + "attn.to_q", d + "attn.to_k", d + "attn.to_v");
            b.fuse(o + "txt_attn.qkv", d + "attn.add_q_proj", d + "attn.add_k_proj", d + "attn.add_v_proj");
            b.tensor(o + "img_attn.norm.query_norm.scale", d + "attn.norm_q.weight");
            b.tensor(o + "img_attn.norm.key_norm.scale", d + "attn.norm_k.weight");
            b.tensor(o + "txt_attn.norm.query_norm.scale", d + "attn.norm_added_q.weight");
            b.tensor(o + "txt_attn.norm.key_norm.scale", d + "attn.norm_added_k.weight");
            b.rename(o + "img_attn.proj", d + "attn.to_out.0");
            b.rename(o + "txt_attn.proj", d + "attn.to_add_out");
            b.rename(o + "img_mlp.0", d + "ff.net.0.proj");
            b.rename(o + "img_mlp.2", d + "ff.net.2");
            b.rename(o + "txt_mlp.0", d + "ff_context.net.0.proj");
            b.rename(o + "txt_mlp.2", d + "ff_context.net.2");
        }
        for (int i = 0; i < numSingleLayers; i++) {
            String o = "single_blocks." + i + ".";
            String d = "single_transformer_blocks." + i + ".";
            b.rename(o + "modulation.lin", d + "norm.linear");
            b.fuse(o + "linear1", d + "attn.to_q", d + "attn.to_k", d + "attn.to_v", d + "proj_mlp");
            b.tensor(o + "norm.query_norm.scale", d + "attn.norm_q.weight");
            b.tensor(o + "norm.key_norm.scale", d + "attn.norm_k.weight");
            b.rename(o + "linear2", d + "proj_out");
        }
        b.rename("final_layer.linear", "proj_out");
        for (String s : List.of(".weight", ".bias")) {
            // diffusers' (scale, shift) rows back to BFL's (shift, scale)
            NDArray v = b.read("norm_out.linear" + s);
            long half = v.getShape().get(0) / 2;
            out.put("final_layer.adaLN_modulation.1" + s,
                    v.get(new NDIndex("{}:", half)).concat(v.get(new NDIndex(":{}", half)), 0));
        }
        Set<String> unused = new TreeSet<>(diffusers.keys());
        unused.removeAll(used);
        assertEquals(Set.of(), unused, "diffusers tensors the inverse mapping did not use");
        return out;
    }

    /** An in-memory state dict of {@code tensors} with {@code prefix} before every name, plus {@code extra} as is. */
    static StateDict stateDict(Map<String, NDArray> tensors, String prefix, Map<String, NDArray> extra) {
        Map<String, NDArray> all = new LinkedHashMap<>();
        tensors.forEach((k, v) -> all.put(prefix + k, v));
        all.putAll(extra);
        return StateDict.of(all.keySet(), k -> all.get(k).getShape().getShape(), (k, manager, dtype) -> {
            NDArray copy = all.get(k).toType(dtype, true);
            copy.attach(manager);
            return copy;
        });
    }

    private record Builder(StateDict diffusers, NDManager m, Map<String, NDArray> out, Set<String> used) {

        NDArray read(String key) {
            if (!used.add(key)) {
                throw new IllegalStateException(key + " used twice");
            }
            return diffusers.load(key, m, DataType.FLOAT32);
        }

        void tensor(String bfl, String diffusersKey) {
            out.put(bfl, read(diffusersKey));
        }

        /** {@code bfl.weight / .bias} <- {@code diffusers.weight / .bias}. */
        void rename(String bfl, String diffusersName) {
            for (String s : List.of(".weight", ".bias")) {
                tensor(bfl + s, diffusersName + s);
            }
        }

        /** {@code bfl.weight / .bias} <- the rows of {@code parts} one after the other. */
        void fuse(String bfl, String... parts) {
            for (String s : List.of(".weight", ".bias")) {
                NDList rows = new NDList();
                for (String p : parts) {
                    rows.add(read(p + s));
                }
                out.put(bfl + s, NDArrays.concat(rows, 0));
            }
        }
    }
}
