package dev.jdiffuse.models.lora;

import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The weights of one model a LoRA layer can adapt, by the names LoRA files give them. The name table is derived from
 * the module tree itself: a kohya name is the module path with {@code .} replaced by {@code _}
 * ({@code down_blocks.0.attentions.0.proj_in} is {@code lora_unet_down_blocks_0_attentions_0_proj_in}), a PEFT name
 * is the dotted path. Kohya UNet names in the original LDM layout ({@code input_blocks_1_1_proj_in}, as SDXL LoRAs
 * use) go through the model's LDM-to-diffusers key table (the one single-file checkpoints load with) first. Names
 * that are no module's own path can come from a family's {@link LoraNameTable} (FLUX's original BFL layer names,
 * fused ones included: {@link #slicesOf}).
 */
public final class LoraTargets {

    /** A model without LoRA support: every layer matches nothing. */
    public static final LoraTargets NONE = new LoraTargets(Map.of(), null);

    private static final String TEXT_MODEL = "text_model.";
    private static final String LDM_PREFIX = "model.diffusion_model.";
    private static final Pattern LDM_BLOCK = Pattern.compile("^(input_blocks|output_blocks)_(\\d+)_(\\d+)(?:_(.+))?$");
    private static final Pattern LDM_MIDDLE = Pattern.compile("^middle_block_(\\d+)(?:_(.+))?$");
    private static final Pattern LDM_TOP = Pattern.compile("^(time_embed|out|label_emb_0)_(\\d+)$");
    private static final Pattern LDM_RESNET_PART = Pattern.compile("^(in_layers|out_layers|emb_layers)_(\\d+)$");

    private final Map<String, Map<String, Parameter>> dotted = new HashMap<>();
    private final Map<String, Map<String, Parameter>> underscored = new HashMap<>();
    private final Map<Parameter, String> paths = new HashMap<>();
    private final Function<String, String> ldmUnetKeys;
    private final LoraNameTable names;

    /**
     * @param parts the adaptable modules by target name ({@code unet}, {@code text_encoder}, {@code text_encoder_2};
     *     null entries are skipped)
     * @param ldmUnetKeys the UNet's LDM-to-diffusers key table ({@code model.diffusion_model.*} keys), or null
     */
    public LoraTargets(Map<String, ? extends Module> parts, Function<String, String> ldmUnetKeys) {
        this(parts, ldmUnetKeys, null);
    }

    /**
     * @param parts the adaptable modules by target name ({@code unet}, {@code transformer}, {@code text_encoder},
     *     {@code text_encoder_2}; null entries are skipped)
     * @param ldmUnetKeys the UNet's LDM-to-diffusers key table ({@code model.diffusion_model.*} keys), or null
     * @param names the family's own table of underscored names that are no module path (FLUX's fused BFL layers),
     *     consulted when a name is not a module's own; or null
     */
    public LoraTargets(Map<String, ? extends Module> parts, Function<String, String> ldmUnetKeys,
            LoraNameTable names) {
        this.ldmUnetKeys = ldmUnetKeys;
        this.names = names;
        parts.forEach((target, module) -> {
            if (module != null) {
                index(target, module);
            }
        });
    }

    /** Only weights of linear ([out, in]) and convolution ([out, in, kh, kw]) layers are adapted. */
    private void index(String target, Module module) {
        Map<String, Parameter> byPath = new HashMap<>();
        Map<String, Parameter> byUnderscored = new HashMap<>();
        Set<String> ambiguous = new HashSet<>();
        module.namedParameters().forEach((key, p) -> {
            int rank = p.shape().dimension();
            if (!key.endsWith(".weight") || (rank != 2 && rank != 4)) {
                return;
            }
            String path = key.substring(0, key.length() - ".weight".length());
            paths.put(p, target + "." + path);
            for (String name : aliases(path)) {
                byPath.put(name, p);
                if (byUnderscored.put(name.replace('.', '_'), p) != null) {
                    ambiguous.add(name.replace('.', '_'));
                }
            }
        });
        ambiguous.forEach(byUnderscored::remove);
        dotted.put(target, byPath);
        underscored.put(target, byUnderscored);
    }

    /**
     * A module's names in LoRA files: its path, and for CLIP text encoders also the path without
     * {@code text_model.}, since transformers 5 names {@code CLIPTextModel}'s modules without that wrapper
     * ({@code lora_te_encoder_layers_0_mlp_fc1} beside kohya's usual {@code lora_te_text_model_encoder_layers_0_...}).
     */
    private static List<String> aliases(String path) {
        return path.startsWith(TEXT_MODEL) ? List.of(path, path.substring(TEXT_MODEL.length())) : List.of(path);
    }

    /** Every weight a LoRA layer can adapt, by {@code <target>.<dotted module path>}, sorted. */
    public Map<String, Parameter> weights() {
        Map<String, Parameter> out = new TreeMap<>();
        paths.forEach((p, path) -> out.put(path, p));
        return out;
    }

    public boolean isEmpty() {
        return dotted.isEmpty();
    }

    /**
     * The weights {@code layer} adapts and the rows of its {@code up} each takes ({@link LoraSlice}): one slice for a
     * layer named by a module's own path, one per module for a fused layer of the family's {@link LoraNameTable}
     * (rows split in the modules' order, each module taking as many rows as its weight has); empty if this model has
     * no module of that name. The rows are not checked against the layer's shapes here ({@link LoraPatcher} does).
     */
    public List<LoraSlice> slicesOf(LoraModule layer) {
        Parameter p = directWeightOf(layer);
        if (p != null) {
            return List.of(LoraSlice.whole(p, layer.outFeatures()));
        }
        LoraNameTable.Entry entry = layer.dotted() || names == null ? null : names.lookup(layer.target(),
                layer.name());
        if (entry == null) {
            return List.of();
        }
        Map<String, Parameter> byPath = dotted.getOrDefault(layer.target(), Map.of());
        List<LoraSlice> out = new ArrayList<>();
        long start = 0;
        for (String module : entry.modules()) {
            Parameter w = byPath.get(module);
            if (w == null) {
                return List.of();
            }
            long rows = w.shape().get(0);
            if (entry.swappedHalves()) {
                // the layer's rows [0, half) are the module's second half, its rows [half, 2 half) the first
                long half = rows / 2;
                out.add(new LoraSlice(w, List.of(new LoraSlice.Rows(half, rows - half), new LoraSlice.Rows(0,
                        half))));
            } else {
                out.add(new LoraSlice(w, List.of(new LoraSlice.Rows(start, rows))));
            }
            start += rows;
        }
        return List.copyOf(out);
    }

    /**
     * The one weight {@code layer} adapts whole (a module's own name, or a table entry of one module in order), or
     * null if it matches nothing or adapts a split or reordered weight.
     */
    public Parameter weightOf(LoraModule layer) {
        List<LoraSlice> slices = slicesOf(layer);
        return slices.size() == 1 && slices.get(0).isWhole(layer.outFeatures()) ? slices.get(0).weight() : null;
    }

    /** The weight of the module whose own path (dotted, underscored or LDM-style) is {@code layer}'s name. */
    private Parameter directWeightOf(LoraModule layer) {
        if (layer.dotted()) {
            return dotted.getOrDefault(layer.target(), Map.of()).get(layer.name());
        }
        Map<String, Parameter> names = underscored.getOrDefault(layer.target(), Map.of());
        Parameter p = names.get(layer.name());
        if (p == null && layer.target().equals("unet") && ldmUnetKeys != null) {
            String key = ldmKey(layer.name());
            String diffusers = key == null ? null : ldmUnetKeys.apply(key);
            if (diffusers != null && !diffusers.startsWith(LDM_PREFIX) && diffusers.endsWith(".weight")) {
                p = names.get(diffusers.substring(0, diffusers.length() - ".weight".length()).replace('.', '_'));
            }
        }
        return p;
    }

    /**
     * The module {@code layer} adapts whole as {@code <target>.<dotted module path>} (PEFT's key prefix, e.g.
     * {@code unet.down_blocks.0.attentions.0.proj_in}), or null if it matches nothing or a split weight.
     */
    public String pathOf(LoraModule layer) {
        Parameter p = weightOf(layer);
        return p == null ? null : paths.get(p);
    }

    /**
     * An LDM-style kohya name as the LDM weight key the key table maps: the block indices and the resnet parts
     * ({@code in_layers_2}) dotted, the rest left underscored (the table keeps what follows a block as it is, and
     * the result is compared underscored). {@code input_blocks_4_1_transformer_blocks_0_attn1_to_q} becomes
     * {@code model.diffusion_model.input_blocks.4.1.transformer_blocks_0_attn1_to_q.weight}; null when it is no LDM
     * name.
     */
    static String ldmKey(String name) {
        Matcher m = LDM_BLOCK.matcher(name);
        if (m.matches()) {
            return LDM_PREFIX + m.group(1) + "." + m.group(2) + "." + m.group(3) + "." + ldmPart(m.group(4));
        }
        m = LDM_MIDDLE.matcher(name);
        if (m.matches()) {
            return LDM_PREFIX + "middle_block." + m.group(1) + "." + ldmPart(m.group(2));
        }
        m = LDM_TOP.matcher(name);
        if (m.matches()) {
            String top = m.group(1).equals("label_emb_0") ? "label_emb.0" : m.group(1);
            return LDM_PREFIX + top + "." + m.group(2) + ".weight";
        }
        return null;
    }

    private static String ldmPart(String rest) {
        if (rest == null) {
            return "weight";
        }
        Matcher r = LDM_RESNET_PART.matcher(rest);
        return (r.matches() ? r.group(1) + "." + r.group(2) : rest) + ".weight";
    }
}
