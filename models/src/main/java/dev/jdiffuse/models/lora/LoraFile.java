package dev.jdiffuse.models.lora;

import dev.jdiffuse.safetensors.SafetensorsFile;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A LoRA {@code .safetensors} file as its header describes it (no tensor is read): its format, metadata and adapted
 * layers. Two formats are read ({@link LoraFormat}): kohya's ({@code lora_unet_*}, {@code lora_te_*},
 * {@code lora_te1_}/{@code lora_te2_}; {@code lora_down}/{@code lora_up}/{@code alpha}; LoCon convolutions with a
 * 3x3 {@code down} and a 1x1 {@code up}) and diffusers/PEFT's ({@code unet.}/{@code transformer.}/
 * {@code text_encoder.}/{@code text_encoder_2.} prefixes, {@code lora_A}/{@code lora_B}, an optional {@code alpha}).
 * A kohya {@code lora_unet_} layer named after FLUX.1's original modules ({@code double_blocks_0_img_attn_qkv},
 * {@code single_blocks_0_linear1}, {@code img_in}...) targets the {@code transformer}. ComfyUI's spelling of kohya
 * keys ({@code diffusion_model.double_blocks.0.img_attn.qkv.lora_down.weight},
 * {@code text_encoders.clip_l.transformer.<module>.lora_up.weight}) is read as kohya's, and so are
 * {@code lora_transformer_<underscored diffusers path>} layers (the "mixture" files diffusers'
 * {@code _convert_mixture_state_dict_to_diffusers} reads). Any other key (LoHa, LoKr,
 * DoRA's {@code dora_scale}, LoCon's {@code lora_mid}, embeddings, sd-scripts' T5 layers {@code lora_te3_}...) fails
 * the read, listed, rather than being silently dropped.
 *
 * <p>Instances are compared by identity: a library that re-reads a changed file gets a new one, and a pipeline then
 * re-applies it.
 */
public final class LoraFile {

    private static final String KOHYA_PARTS = "(lora_down\\.weight|lora_up\\.weight|alpha)$";
    private static final Pattern KOHYA = Pattern.compile(
            "^(lora_unet|lora_transformer|lora_te1|lora_te2|lora_te)_(.+)\\." + KOHYA_PARTS);
    private static final Pattern COMFY = Pattern.compile(
            "^(diffusion_model|text_encoders\\.clip_l\\.transformer)\\.(.+)\\." + KOHYA_PARTS);
    private static final Pattern PEFT = Pattern.compile(
            "^(unet|transformer|text_encoder|text_encoder_2)\\.(.+)\\.(lora_A\\.weight|lora_B\\.weight|alpha)$");
    /**
     * The kohya {@code lora_unet_} names of FLUX.1's original (Black Forest Labs) modules, as sd-scripts'
     * {@code networks/lora_flux.py} saves them: these adapt a transformer, not a UNet.
     */
    private static final Pattern FLUX_KOHYA = Pattern.compile(
            "^(double_blocks_\\d+_|single_blocks_\\d+_|img_in$|txt_in$|(time|vector|guidance)_in_|final_layer_).*");
    private static final Pattern FLUX_WIDE_Q = Pattern.compile("^transformer_blocks_\\d+_attn_to_q$");
    private static final Map<String, String> KOHYA_TARGETS = Map.of("lora_unet", "unet", "lora_transformer",
            "transformer", "lora_te", "text_encoder", "lora_te1", "text_encoder", "lora_te2", "text_encoder_2");

    private final Path path;
    private final LoraFormat format;
    private final Map<String, String> metadata;
    private final List<LoraModule> modules;

    private LoraFile(Path path, LoraFormat format, Map<String, String> metadata, List<LoraModule> modules) {
        this.path = path;
        this.format = format;
        this.metadata = Map.copyOf(metadata);
        this.modules = List.copyOf(modules);
    }

    /**
     * Reads the header of {@code file}.
     *
     * @throws LoraException listing every key of no known LoRA layout, and every layer missing its down or up half
     */
    public static LoraFile read(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, long[]> shapes = new TreeMap<>();
            for (String k : f.names()) {
                shapes.put(k, f.info(k).shape());
            }
            return of(file, shapes, f.metadata());
        }
    }

    /** A LoRA described by its keys and shapes (as {@link #read} finds them in a header). */
    static LoraFile of(Path file, Map<String, long[]> shapes, Map<String, String> metadata) {
        Map<String, String[]> layers = new TreeMap<>();
        Set<String> unknown = new TreeSet<>();
        boolean kohya = false;
        for (String key : shapes.keySet()) {
            Matcher k = KOHYA.matcher(comfyAsKohya(key));
            Matcher p = PEFT.matcher(key);
            Matcher m = k.matches() ? k : p.matches() ? p : null;
            if (m == null) {
                unknown.add(key);
                continue;
            }
            kohya |= m == k;
            String target = m == p ? m.group(1) : m.group(1).equals("lora_unet")
                    && FLUX_KOHYA.matcher(m.group(2)).matches() ? "transformer" : KOHYA_TARGETS.get(m.group(1));
            String[] slot = layers.computeIfAbsent(target + "\u0000" + m.group(2) + "\u0000" + (m == p),
                    x -> new String[3]);
            int part = m.group(3).equals("alpha") ? 2 : m.group(3).startsWith("lora_down")
                    || m.group(3).startsWith("lora_A") ? 0 : 1;
            slot[part] = key;
        }
        List<LoraModule> modules = new ArrayList<>();
        List<String> incomplete = new ArrayList<>();
        for (Map.Entry<String, String[]> e : layers.entrySet()) {
            String[] id = e.getKey().split("\u0000");
            String[] keys = e.getValue();
            if (keys[0] == null || keys[1] == null) {
                incomplete.add(id[0] + " " + id[1] + " (has only " + (keys[0] != null ? keys[0] : keys[1] != null
                        ? keys[1] : keys[2]) + ")");
                continue;
            }
            modules.add(new LoraModule(id[0], id[1], Boolean.parseBoolean(id[2]), keys[0], shapes.get(keys[0]),
                    keys[1], shapes.get(keys[1]), keys[2]));
        }
        if (!unknown.isEmpty() || !incomplete.isEmpty()) {
            throw new LoraException(file.getFileName() + ": " + LoraException.listed("keys of no supported LoRA "
                    + "layout (kohya lora_down/lora_up/alpha or PEFT lora_A/lora_B)", unknown)
                    + (unknown.isEmpty() || incomplete.isEmpty() ? "" : "; ")
                    + LoraException.listed("layers without both halves", incomplete));
        }
        if (modules.isEmpty()) {
            throw new LoraException(file.getFileName() + ": no LoRA layer in the file");
        }
        return new LoraFile(file, kohya ? LoraFormat.KOHYA : LoraFormat.PEFT, metadata, modules);
    }

    /**
     * ComfyUI's spelling of a kohya key as kohya's, as diffusers' {@code _convert_kohya_flux_lora_to_diffusers} reads
     * it: {@code diffusion_model.} is {@code lora_unet_}, {@code text_encoders.clip_l.transformer.} is
     * {@code lora_te_}, and the dots before {@code lora_down} / {@code lora_up} / {@code alpha} are underscores
     * ({@code diffusion_model.double_blocks.0.img_attn.qkv.lora_down.weight} is
     * {@code lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight}); any other key as it is.
     */
    private static String comfyAsKohya(String key) {
        Matcher c = COMFY.matcher(key);
        if (!c.matches()) {
            return key;
        }
        return (c.group(1).equals("diffusion_model") ? "lora_unet_" : "lora_te_") + c.group(2).replace('.', '_')
                + "." + c.group(3);
    }

    public Path path() {
        return path;
    }

    public LoraFormat format() {
        return format;
    }

    /** The header's {@code __metadata__} (kohya's {@code ss_*} training notes), possibly empty. */
    public Map<String, String> metadata() {
        return metadata;
    }

    public List<LoraModule> modules() {
        return modules;
    }

    /**
     * The model parts it adapts, sorted: {@code text_encoder}, {@code text_encoder_2}, {@code transformer},
     * {@code unet}.
     */
    public Set<String> targets() {
        Set<String> out = new TreeSet<>();
        modules.forEach(m -> out.add(m.target()));
        return out;
    }

    /** The largest rank of its layers. */
    public long rank() {
        return modules.stream().mapToLong(LoraModule::rank).max().orElse(0);
    }

    /**
     * The model family it was trained for, as far as the file tells: kohya's {@code ss_base_model_version}
     * ({@code flux1...} / {@code flux_1...} is FLUX.1), else transformer layers of FLUX.1's (a kohya name of its
     * original modules, a diffusers {@code single_transformer_blocks.} or {@code guidance_embedder} layer, or a
     * double block's {@code attn.to_q} 3072 wide), else a second text encoder (SDXL), else the context width of the
     * UNet's cross-attention keys (768 SD1, 1024 SD2, 2048 SDXL); null when none of these says.
     */
    public String family() {
        String base = metadata.getOrDefault("ss_base_model_version", "").toLowerCase(Locale.ROOT);
        for (String[] f : new String[][] {{"sdxl", "sdxl"}, {"sd_v2", "sd2"}, {"sd_v1", "sd1"}, {"sd3", "sd3"},
                {"flux1", "flux"}, {"flux_1", "flux"}, {"flux.1", "flux"}, {"flux-1", "flux"}}) {
            if (base.startsWith(f[0])) {
                return f[1];
            }
        }
        if (modules.stream().anyMatch(LoraFile::isFluxLayer)) {
            return "flux";
        }
        if (targets().contains("text_encoder_2")) {
            return "sdxl";
        }
        for (LoraModule m : modules) {
            if (m.target().equals("unet") && m.name().replace('.', '_').endsWith("attn2_to_k")) {
                return switch ((int) m.inElements()) {
                    case 768 -> "sd1";
                    case 1024 -> "sd2";
                    case 2048 -> "sdxl";
                    default -> null;
                };
            }
        }
        return null;
    }

    /**
     * A transformer layer only FLUX.1 has: kohya names of its original modules; diffusers' single-stream blocks and
     * guidance embedder; a double block's {@code to_q} at FLUX.1's width 3072 (SD3's transformer has the other
     * diffusers names too, at 1536 or 2432).
     */
    private static boolean isFluxLayer(LoraModule m) {
        if (!m.target().equals("transformer")) {
            return false;
        }
        String n = m.name().replace('.', '_');
        return FLUX_KOHYA.matcher(n).matches() || n.startsWith("single_transformer_blocks_")
                || n.startsWith("time_text_embed_guidance_embedder_")
                || (FLUX_WIDE_Q.matcher(n).matches() && m.inElements() == 3072);
    }

    @Override
    public String toString() {
        return path.getFileName() + " (" + format.name().toLowerCase(java.util.Locale.ROOT) + ", " + modules.size()
                + " layers)";
    }
}
