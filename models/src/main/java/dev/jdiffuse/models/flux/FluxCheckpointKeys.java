package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.StateDict;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The key table from Black Forest Labs' original FLUX.1 names ({@code flux1-dev.safetensors},
 * {@code flux1-schnell.safetensors}; ComfyUI / Forge files hold the same keys under {@code model.diffusion_model.}) to
 * diffusers' {@code FluxTransformer2DModel} names, as diffusers' {@code convert_flux_transformer_checkpoint_to_diffusers}
 * ({@code loaders/single_file_utils.py}) maps them (D = the stream width, heads x head dim):
 * <ul>
 *   <li>{@code img_in} -> {@code x_embedder}; {@code txt_in} -> {@code context_embedder}; {@code time_in.in_layer /
 *       out_layer} -> {@code time_text_embed.timestep_embedder.linear_1 / linear_2}; {@code vector_in.*} ->
 *       {@code time_text_embed.text_embedder.*}; {@code guidance_in.*} -> {@code time_text_embed.guidance_embedder.*}
 *       (guidance-distilled models only); {@code final_layer.linear} -> {@code proj_out};
 *       {@code final_layer.adaLN_modulation.1} -> {@code norm_out.linear} with its two row halves swapped;</li>
 *   <li>{@code double_blocks.i.} -> {@code transformer_blocks.i.}: {@code img_mod.lin / txt_mod.lin} ->
 *       {@code norm1.linear / norm1_context.linear}; {@code img_attn.qkv} [3D, D] (and its bias) split by rows into
 *       {@code attn.to_q, to_k, to_v}, {@code txt_attn.qkv} into {@code attn.add_q_proj, add_k_proj, add_v_proj};
 *       {@code img_attn.norm.query_norm / key_norm.scale} -> {@code attn.norm_q / norm_k.weight}, the {@code txt_attn}
 *       ones -> {@code attn.norm_added_q / norm_added_k.weight}; {@code img_attn.proj} -> {@code attn.to_out.0},
 *       {@code txt_attn.proj} -> {@code attn.to_add_out}; {@code img_mlp.0 / 2} -> {@code ff.net.0.proj / ff.net.2},
 *       {@code txt_mlp.0 / 2} -> {@code ff_context.net.0.proj / ff_context.net.2};</li>
 *   <li>{@code single_blocks.i.} -> {@code single_transformer_blocks.i.}: {@code linear1} [3D + M, D] (and its bias)
 *       split by rows into {@code attn.to_q, to_k, to_v} (D rows each) and {@code proj_mlp} (the last M rows);
 *       {@code linear2} -> {@code proj_out}; {@code norm.query_norm / key_norm.scale} -> {@code attn.norm_q /
 *       norm_k.weight}; {@code modulation.lin} -> {@code norm.linear}.</li>
 * </ul>
 * The swap: BFL's {@code LastLayer} splits {@code adaLN_modulation(c)} into (shift, scale), diffusers'
 * {@code AdaLayerNormContinuous} into (scale, shift). diffusers splits {@code linear1} with a fixed D = 3072 and
 * M = 4D; here D is read from the block's own {@code linear1.weight} columns (or {@code img_in.weight} rows for a bias
 * alone), which is the same for FLUX.1 and also fits narrower test models.
 * <p>
 * When any key starts with {@link #PREFIX} the transformer is the keys under it and every other key (a ComfyUI
 * file's {@code vae.}, {@code text_encoders.}, ...) is left out; otherwise (BFL's own files) every key is the
 * transformer's except those of {@link #OTHER_COMPONENTS}. A transformer key the table does not know keeps its name
 * in the file, so loading reports it as unexpected; a missing original key leaves its diffusers key(s) out, so
 * loading reports them as missing. Values are read lazily: a split key reads its source and keeps only its rows.
 */
public final class FluxCheckpointKeys {

    /** Where ComfyUI and Forge single files put the FLUX transformer. */
    public static final String PREFIX = "model.diffusion_model.";
    /** Roots of other components of a combined file, never the transformer's. */
    public static final List<String> OTHER_COMPONENTS = List.of("vae.", "text_encoders.", "first_stage_model.",
            "cond_stage_model.", "conditioner.");

    /** The keys a FLUX.1 transformer has and FLUX.2 / Chroma (also {@code double_blocks}) do not (per-block mods). */
    static final List<String> SIGNATURE = List.of("img_in.weight", "double_blocks.0.img_mod.lin.weight",
            "single_blocks.0.modulation.lin.weight");

    private static final Pattern DOUBLE = Pattern.compile("double_blocks\\.(\\d+)\\.(.+)");
    private static final Pattern SINGLE = Pattern.compile("single_blocks\\.(\\d+)\\.(.+)");
    private static final Map<String, String> TOP = Map.of("img_in.", "x_embedder.",
            "txt_in.", "context_embedder.",
            "time_in.in_layer.", "time_text_embed.timestep_embedder.linear_1.",
            "time_in.out_layer.", "time_text_embed.timestep_embedder.linear_2.",
            "vector_in.in_layer.", "time_text_embed.text_embedder.linear_1.",
            "vector_in.out_layer.", "time_text_embed.text_embedder.linear_2.",
            "guidance_in.in_layer.", "time_text_embed.guidance_embedder.linear_1.",
            "guidance_in.out_layer.", "time_text_embed.guidance_embedder.linear_2.",
            "final_layer.linear.", "proj_out.");
    /** double_blocks.i.{rest prefix} -> transformer_blocks.i.{name prefix}, whole tensors. */
    private static final Map<String, String> DOUBLE_WHOLE = Map.ofEntries(
            Map.entry("img_mod.lin.", "norm1.linear."),
            Map.entry("txt_mod.lin.", "norm1_context.linear."),
            Map.entry("img_attn.norm.query_norm.scale", "attn.norm_q.weight"),
            Map.entry("img_attn.norm.key_norm.scale", "attn.norm_k.weight"),
            Map.entry("txt_attn.norm.query_norm.scale", "attn.norm_added_q.weight"),
            Map.entry("txt_attn.norm.key_norm.scale", "attn.norm_added_k.weight"),
            Map.entry("img_attn.proj.", "attn.to_out.0."),
            Map.entry("txt_attn.proj.", "attn.to_add_out."),
            Map.entry("img_mlp.0.", "ff.net.0.proj."),
            Map.entry("img_mlp.2.", "ff.net.2."),
            Map.entry("txt_mlp.0.", "ff_context.net.0.proj."),
            Map.entry("txt_mlp.2.", "ff_context.net.2."));
    private static final Map<String, String> SINGLE_WHOLE = Map.of("modulation.lin.", "norm.linear.",
            "norm.query_norm.scale", "attn.norm_q.weight",
            "norm.key_norm.scale", "attn.norm_k.weight",
            "linear2.", "proj_out.");
    private static final String[] IMG_QKV = {"attn.to_q.", "attn.to_k.", "attn.to_v."};
    private static final String[] TXT_QKV = {"attn.add_q_proj.", "attn.add_k_proj.", "attn.add_v_proj."};
    private static final String[] LINEAR1 = {"attn.to_q.", "attn.to_k.", "attn.to_v.", "proj_mlp."};

    /**
     * Where one diffusers tensor comes from: a key of the file, rows {@code [from, to)} of it ({@code from < 0}: all),
     * its row halves swapped or not.
     */
    private record Source(String key, long from, long to, boolean swapHalves) {

        static Source whole(String key) {
            return new Source(key, -1, -1, false);
        }
    }

    private FluxCheckpointKeys() {
    }

    /**
     * {@link #PREFIX} or {@code ""}: where the FLUX.1 transformer of {@code keys} is ({@link #SIGNATURE} present under
     * it), or null when the keys are not a FLUX.1 transformer's. Reads no tensor.
     */
    public static String prefixOf(Set<String> keys) {
        for (String p : List.of(PREFIX, "")) {
            if (SIGNATURE.stream().allMatch(k -> keys.contains(p + k))) {
                return p;
            }
        }
        return null;
    }

    /** The FLUX transformer of {@code checkpoint} (original BFL names, either prefix) in diffusers' naming. */
    public static StateDict view(StateDict checkpoint) {
        Set<String> keys = checkpoint.keys();
        boolean prefixed = keys.stream().anyMatch(k -> k.startsWith(PREFIX));
        String prefix = prefixed ? PREFIX : "";
        Map<String, Source> table = new LinkedHashMap<>();
        for (String k : keys) {
            if (prefixed ? k.startsWith(PREFIX) : OTHER_COMPONENTS.stream().noneMatch(k::startsWith)) {
                map(checkpoint, prefix, k, table);
            }
        }
        return StateDict.of(table.keySet(), key -> shape(checkpoint, table.get(key)),
                (key, manager, dtype) -> load(checkpoint, table.get(key), manager, dtype));
    }

    private static void map(StateDict checkpoint, String prefix, String key, Map<String, Source> table) {
        String k = key.substring(prefix.length());
        String modulation = "final_layer.adaLN_modulation.1.";
        if (k.startsWith(modulation)) {
            put(table, "norm_out.linear." + k.substring(modulation.length()), new Source(key, -1, -1, true));
            return;
        }
        for (Map.Entry<String, String> e : TOP.entrySet()) {
            if (k.startsWith(e.getKey())) {
                put(table, e.getValue() + k.substring(e.getKey().length()), Source.whole(key));
                return;
            }
        }
        Matcher d = DOUBLE.matcher(k);
        if (d.matches() && doubleBlock(checkpoint, key, "transformer_blocks." + d.group(1) + ".", d.group(2), table)) {
            return;
        }
        Matcher s = SINGLE.matcher(k);
        if (s.matches() && singleBlock(checkpoint, prefix, key, s.group(1), s.group(2), table)) {
            return;
        }
        put(table, key, Source.whole(key));
    }

    private static boolean doubleBlock(StateDict checkpoint, String key, String target, String rest,
            Map<String, Source> table) {
        if (whole(key, target, rest, DOUBLE_WHOLE, table)) {
            return true;
        }
        boolean img = rest.startsWith("img_attn.qkv.");
        if (!img && !rest.startsWith("txt_attn.qkv.")) {
            return false;
        }
        long rows = checkpoint.shape(key)[0];
        if (rows % 3 != 0) {
            return false;
        }
        String[] names = img ? IMG_QKV : TXT_QKV;
        String tail = rest.substring("img_attn.qkv.".length());
        for (int t = 0; t < 3; t++) {
            put(table, target + names[t] + tail, new Source(key, t * rows / 3, (t + 1) * rows / 3, false));
        }
        return true;
    }

    private static boolean singleBlock(StateDict checkpoint, String prefix, String key, String index, String rest,
            Map<String, Source> table) {
        String target = "single_transformer_blocks." + index + ".";
        if (whole(key, target, rest, SINGLE_WHOLE, table)) {
            return true;
        }
        if (!rest.startsWith("linear1.")) {
            return false;
        }
        long width = width(checkpoint, prefix + "single_blocks." + index + ".linear1.weight", prefix);
        long rows = checkpoint.shape(key)[0];
        if (width <= 0 || rows <= 3 * width) {
            return false;
        }
        // rows [0, D), [D, 2D), [2D, 3D): q, k, v; [3D, rows): the MLP's input projection
        long[] bounds = {0, width, 2 * width, 3 * width, rows};
        for (int t = 0; t < LINEAR1.length; t++) {
            put(table, target + LINEAR1[t] + rest.substring("linear1.".length()), new Source(key, bounds[t],
                    bounds[t + 1], false));
        }
        return true;
    }

    /** D: the columns of the block's {@code linear1.weight}, else the rows of {@code img_in.weight}; 0 if neither. */
    private static long width(StateDict checkpoint, String linear1Weight, String prefix) {
        if (checkpoint.keys().contains(linear1Weight) && checkpoint.shape(linear1Weight).length == 2) {
            return checkpoint.shape(linear1Weight)[1];
        }
        String imgIn = prefix + "img_in.weight";
        return checkpoint.keys().contains(imgIn) ? checkpoint.shape(imgIn)[0] : 0;
    }

    /** A renamed whole tensor if {@code rest} starts with a key of {@code names}. */
    private static boolean whole(String key, String target, String rest, Map<String, String> names,
            Map<String, Source> table) {
        for (Map.Entry<String, String> e : names.entrySet()) {
            if (rest.startsWith(e.getKey())) {
                put(table, target + e.getValue() + rest.substring(e.getKey().length()), Source.whole(key));
                return true;
            }
        }
        return false;
    }

    private static void put(Map<String, Source> table, String name, Source source) {
        Source prev = table.putIfAbsent(name, source);
        if (prev != null) {
            throw new IllegalArgumentException("keys " + prev.key() + " and " + source.key() + " both map to " + name);
        }
    }

    private static long[] shape(StateDict checkpoint, Source s) {
        long[] shape = checkpoint.shape(s.key()).clone();
        if (s.from() >= 0) {
            shape[0] = s.to() - s.from();
        }
        return shape;
    }

    private static NDArray load(StateDict checkpoint, Source s, NDManager manager, DataType dtype) {
        if (s.from() < 0 && !s.swapHalves()) {
            return checkpoint.load(s.key(), manager, dtype);
        }
        try (NDManager scratch = manager.newSubManager()) {
            NDArray full = checkpoint.load(s.key(), scratch, dtype);
            long rows = full.getShape().get(0);
            NDArray part;
            if (s.from() >= 0) {
                part = full.get(new NDIndex("{}:{}", s.from(), s.to()));
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
