package dev.jdiffuse.models.flux;

import dev.jdiffuse.models.lora.LoraNameTable;
import dev.jdiffuse.models.lora.LoraNameTable.Entry;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * kohya / sd-scripts FLUX.1 LoRA layer names ({@code lora_unet_<name>}, the name being Black Forest Labs' module
 * path with {@code .} as {@code _}, as {@code networks/lora_flux.py} saves them) as {@link FluxTransformer2DModel}'s
 * diffusers modules. The table is diffusers' {@code _convert_sd_scripts_to_ai_toolkit} inside
 * {@code _convert_kohya_flux_lora_to_diffusers} ({@code src/diffusers/loaders/lora_conversion_utils.py}, adapted there
 * from kohya-ss' {@code networks/convert_flux_lora.py}):
 * <ul>
 *   <li>{@code double_blocks_i_}: {@code img_attn_proj} -> {@code transformer_blocks.i.attn.to_out.0};
 *       {@code img_attn_qkv} -> {@code attn.to_q, to_k, to_v} (fused); {@code img_mlp_0 / 2} ->
 *       {@code ff.net.0.proj / ff.net.2}; {@code img_mod_lin} -> {@code norm1.linear}; {@code txt_attn_proj} ->
 *       {@code attn.to_add_out}; {@code txt_attn_qkv} -> {@code attn.add_q_proj, add_k_proj, add_v_proj} (fused);
 *       {@code txt_mlp_0 / 2} -> {@code ff_context.net.0.proj / ff_context.net.2}; {@code txt_mod_lin} ->
 *       {@code norm1_context.linear};</li>
 *   <li>{@code single_blocks_i_}: {@code linear1} -> {@code single_transformer_blocks.i.attn.to_q, to_k, to_v,
 *       proj_mlp} (fused); {@code linear2} -> {@code proj_out}; {@code modulation_lin} -> {@code norm.linear};</li>
 *   <li>{@code img_in} -> {@code x_embedder}; {@code txt_in} -> {@code context_embedder}; {@code time_in_ /
 *       vector_in_ / guidance_in_} {@code in_layer / out_layer} -> {@code time_text_embed.timestep_embedder /
 *       text_embedder / guidance_embedder.linear_1 / linear_2}; {@code final_layer_linear} -> {@code proj_out};
 *       {@code final_layer_adaLN_modulation_1} -> {@code norm_out.linear}, row halves swapped.</li>
 * </ul>
 * A fused layer ({@code _convert_to_ai_toolkit_cat}) keeps one {@code down} for all its modules and splits
 * {@code up}'s rows in the modules' order, each taking its weight's rows: thirds for {@code qkv}, D, D, D and the MLP's
 * rows for {@code linear1} (diffusers' fixed {@code dims=[3072, 3072, 3072, 12288]} for FLUX.1, here read from the
 * weights so narrower test models fit too). diffusers' "sparse" case (an {@code up} that is block-diagonal over the
 * splits, chunking {@code down}) gives the same products, since the blocks it leaves out are zeros. Its alpha
 * scaling ({@code alpha / rank}, {@code rank} = {@code down}'s rows, per layer) is
 * {@link dev.jdiffuse.models.lora.LoraPatcher}'s formula.
 *
 * <p>Two differences from diffusers, on layers sd-scripts does not train by default: the non-block layers
 * ({@code img_in}, {@code time_in}...) take their {@code alpha} like every other layer (diffusers' converter leaves a
 * "TODO: alphas" there and refuses a file that has them), and {@code final_layer_adaLN_modulation_1} swaps the
 * (shift, scale) row halves of {@code up} only, as {@link FluxCheckpointKeys} swaps the base weight's rows, so that the
 * merged weight is the converted merged BFL weight (diffusers' {@code swap_scale_shift} also swaps {@code down}'s rank
 * halves, which pairs each half of {@code up}'s columns with the other half of {@code down}'s rows and so changes the
 * product).
 */
public final class FluxLoraNames implements LoraNameTable {

    /** The table, for {@link dev.jdiffuse.models.lora.LoraTargets}; the transformer's target is {@code transformer}. */
    public static final FluxLoraNames TABLE = new FluxLoraNames();

    private static final String TARGET = "transformer";
    private static final Pattern DOUBLE = Pattern.compile("^double_blocks_(\\d+)_(.+)$");
    private static final Pattern SINGLE = Pattern.compile("^single_blocks_(\\d+)_(.+)$");
    private static final Map<String, String[]> DOUBLE_NAMES = Map.ofEntries(
            Map.entry("img_attn_proj", new String[] {"attn.to_out.0"}),
            Map.entry("img_attn_qkv", new String[] {"attn.to_q", "attn.to_k", "attn.to_v"}),
            Map.entry("img_mlp_0", new String[] {"ff.net.0.proj"}),
            Map.entry("img_mlp_2", new String[] {"ff.net.2"}),
            Map.entry("img_mod_lin", new String[] {"norm1.linear"}),
            Map.entry("txt_attn_proj", new String[] {"attn.to_add_out"}),
            Map.entry("txt_attn_qkv", new String[] {"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}),
            Map.entry("txt_mlp_0", new String[] {"ff_context.net.0.proj"}),
            Map.entry("txt_mlp_2", new String[] {"ff_context.net.2"}),
            Map.entry("txt_mod_lin", new String[] {"norm1_context.linear"}));
    private static final Map<String, String[]> SINGLE_NAMES = Map.of(
            "linear1", new String[] {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"},
            "linear2", new String[] {"proj_out"},
            "modulation_lin", new String[] {"norm.linear"});
    private static final Map<String, String> TOP_NAMES = Map.ofEntries(
            Map.entry("img_in", "x_embedder"),
            Map.entry("txt_in", "context_embedder"),
            Map.entry("time_in_in_layer", "time_text_embed.timestep_embedder.linear_1"),
            Map.entry("time_in_out_layer", "time_text_embed.timestep_embedder.linear_2"),
            Map.entry("vector_in_in_layer", "time_text_embed.text_embedder.linear_1"),
            Map.entry("vector_in_out_layer", "time_text_embed.text_embedder.linear_2"),
            Map.entry("guidance_in_in_layer", "time_text_embed.guidance_embedder.linear_1"),
            Map.entry("guidance_in_out_layer", "time_text_embed.guidance_embedder.linear_2"),
            Map.entry("final_layer_linear", "proj_out"));
    private static final String FINAL_MODULATION = "final_layer_adaLN_modulation_1";

    private FluxLoraNames() {
    }

    @Override
    public Entry lookup(String target, String name) {
        if (!target.equals(TARGET)) {
            return null;
        }
        if (name.equals(FINAL_MODULATION)) {
            return new Entry(List.of("norm_out.linear"), true);
        }
        String top = TOP_NAMES.get(name);
        if (top != null) {
            return Entry.stacked(top);
        }
        Entry e = block(DOUBLE.matcher(name), "transformer_blocks.", DOUBLE_NAMES);
        return e != null ? e : block(SINGLE.matcher(name), "single_transformer_blocks.", SINGLE_NAMES);
    }

    private static Entry block(Matcher m, String prefix, Map<String, String[]> names) {
        if (!m.matches()) {
            return null;
        }
        String[] modules = names.get(m.group(2));
        if (modules == null) {
            return null;
        }
        String block = prefix + m.group(1) + ".";
        return Entry.stacked(Arrays.stream(modules).map(s -> block + s).toArray(String[]::new));
    }
}
