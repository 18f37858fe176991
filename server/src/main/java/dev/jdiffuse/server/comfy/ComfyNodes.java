package dev.jdiffuse.server.comfy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The ComfyUI node classes this server runs, with the input names, types, defaults and ranges of ComfyUI's
 * {@code nodes.py} (so graphs written for ComfyUI validate here as they do there), what {@code GET /object_info}
 * shows and what {@link ComfyGraph} checks a graph against. Choice lists (checkpoints, LoRAs, samplers, uploaded
 * images) are read when asked, from {@link Choices}.
 */
final class ComfyNodes {

    /** The live lists behind the combo inputs. */
    interface Choices {
        List<String> checkpoints();

        List<String> loras();

        List<String> samplers();

        List<String> schedulers();

        /** The names of the caller's uploaded images. */
        List<String> images();
    }

    /** Which live list a combo input offers. */
    enum Combo { CHECKPOINTS, LORAS, SAMPLERS, SCHEDULERS, IMAGES, FIXED }

    /**
     * One input: {@code type} is a link type (MODEL, CLIP, VAE, CONDITIONING, LATENT, IMAGE, MASK), a literal type
     * (INT, FLOAT, STRING, BOOLEAN) or COMBO with its {@code combo} list ({@code fixed} for FIXED).
     */
    record Input(String name, String type, Map<String, Object> options, Combo combo, List<String> fixed) {

        boolean isLink() {
            return LINK_TYPES.contains(type);
        }

        List<String> choices(Choices c) {
            return switch (combo) {
                case CHECKPOINTS -> c.checkpoints();
                case LORAS -> c.loras();
                case SAMPLERS -> c.samplers();
                case SCHEDULERS -> c.schedulers();
                case IMAGES -> c.images();
                case FIXED -> fixed;
            };
        }
    }

    /** One node class: its inputs (required, then optional), outputs, and whether it is an output node. */
    record Spec(String name, String displayName, String category, String description, List<Input> required,
            List<Input> optional, List<String> outputs, List<String> outputNames, boolean outputNode) {

        Input input(String n) {
            for (Input i : required) {
                if (i.name().equals(n)) {
                    return i;
                }
            }
            for (Input i : optional) {
                if (i.name().equals(n)) {
                    return i;
                }
            }
            return null;
        }
    }

    static final List<String> LINK_TYPES = List.of("MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK");
    /** ComfyUI's {@code MAX_RESOLUTION}. */
    static final int MAX_RESOLUTION = 16384;

    private static Input link(String name, String type) {
        return new Input(name, type, Map.of(), null, null);
    }

    private static Input integer(String name, long def, long min, long max, long step) {
        return new Input(name, "INT", opts("default", def, "min", min, "max", max, "step", step), null, null);
    }

    private static Input real(String name, double def, double min, double max, double step) {
        return new Input(name, "FLOAT", opts("default", def, "min", min, "max", max, "step", step), null, null);
    }

    private static Input combo(String name, Combo c) {
        return new Input(name, "COMBO", Map.of(), c, null);
    }

    private static Input fixed(String name, List<String> values) {
        return new Input(name, "COMBO", Map.of(), Combo.FIXED, values);
    }

    private static Map<String, Object> opts(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    /** ComfyUI's seed widget, 0 .. 2^64 - 1 ({@link ComfyGraph} folds the upper half onto the native range). */
    private static Input seed(String name) {
        return new Input(name, "INT", opts("default", 0L, "min", 0L, "max", SEED_MAX,
                "control_after_generate", true), null, null);
    }

    /** 2^64 - 1, ComfyUI's largest seed. */
    static final java.math.BigInteger SEED_MAX = java.math.BigInteger.ONE.shiftLeft(64).subtract(
            java.math.BigInteger.ONE);

    private static final Input STEPS = integer("steps", 20, 1, 10000, 1);
    private static final Input CFG = new Input("cfg", "FLOAT", opts("default", 8.0, "min", 0.0, "max", 100.0,
            "step", 0.1, "round", 0.01), null, null);

    private static Spec spec(String name, String display, String category, String description, List<Input> required,
            List<Input> optional, List<String> outputs, boolean outputNode) {
        return new Spec(name, display, category, description, required, optional, outputs, outputs, outputNode);
    }

    /** The supported classes, in the order {@code /object_info} lists them. */
    static final Map<String, Spec> SPECS = index(List.of(
            new Spec("CheckpointLoaderSimple", "Load Checkpoint", "loaders",
                    "Loads a diffusion model checkpoint (one of this server's models).",
                    List.of(combo("ckpt_name", Combo.CHECKPOINTS)), List.of(), List.of("MODEL", "CLIP", "VAE"),
                    List.of("MODEL", "CLIP", "VAE"), false),
            spec("UNETLoader", "Load Diffusion Model", "advanced/loaders",
                    "The diffusion model of one of this server's models (its text encoders and VAE come from "
                    + "DualCLIPLoader and VAELoader naming the same model).",
                    List.of(combo("unet_name", Combo.CHECKPOINTS), fixed("weight_dtype", List.of("default",
                            "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"))), List.of(), List.of("MODEL"), false),
            new Spec("DualCLIPLoader", "DualCLIPLoader", "advanced/loaders",
                    "The text encoders of one of this server's models: clip_name1 and clip_name2 name that model.",
                    List.of(combo("clip_name1", Combo.CHECKPOINTS), combo("clip_name2", Combo.CHECKPOINTS),
                            fixed("type", List.of("sdxl", "sd3", "flux"))),
                    List.of(fixed("device", List.of("default", "cpu"))), List.of("CLIP"), List.of("CLIP"), false),
            spec("VAELoader", "Load VAE", "loaders", "The VAE of one of this server's models.",
                    List.of(combo("vae_name", Combo.CHECKPOINTS)), List.of(), List.of("VAE"), false),
            spec("CLIPTextEncode", "CLIP Text Encode (Prompt)", "conditioning",
                    "Encodes a text prompt.", List.of(new Input("text", "STRING",
                            opts("multiline", true, "dynamicPrompts", true), null, null), link("clip", "CLIP")),
                    List.of(), List.of("CONDITIONING"), false),
            spec("CLIPSetLastLayer", "CLIP Set Last Layer", "conditioning", "CLIP skip: -2 skips the last layer.",
                    List.of(link("clip", "CLIP"), integer("stop_at_clip_layer", -1, -24, -1, 1)), List.of(),
                    List.of("CLIP"), false),
            new Spec("LoraLoader", "Load LoRA", "loaders", "Applies a LoRA of this server's --loras folder.",
                    List.of(link("model", "MODEL"), link("clip", "CLIP"), combo("lora_name", Combo.LORAS),
                            real("strength_model", 1.0, -100.0, 100.0, 0.01),
                            real("strength_clip", 1.0, -100.0, 100.0, 0.01)),
                    List.of(), List.of("MODEL", "CLIP"), List.of("MODEL", "CLIP"), false),
            spec("EmptyLatentImage", "Empty Latent Image", "latent", "An empty latent of the given size.",
                    List.of(integer("width", 512, 16, MAX_RESOLUTION, 8), integer("height", 512, 16, MAX_RESOLUTION, 8),
                            integer("batch_size", 1, 1, 4096, 1)), List.of(), List.of("LATENT"), false),
            spec("EmptySD3LatentImage", "EmptySD3LatentImage", "latent/sd3", "An empty latent (SD3, FLUX).",
                    List.of(integer("width", 1024, 16, MAX_RESOLUTION, 16),
                            integer("height", 1024, 16, MAX_RESOLUTION, 16), integer("batch_size", 1, 1, 4096, 1)),
                    List.of(), List.of("LATENT"), false),
            spec("KSampler", "KSampler", "sampling", "Denoises the latent.",
                    List.of(link("model", "MODEL"), seed("seed"), STEPS, CFG, combo("sampler_name", Combo.SAMPLERS),
                            combo("scheduler", Combo.SCHEDULERS), link("positive", "CONDITIONING"),
                            link("negative", "CONDITIONING"), link("latent_image", "LATENT"),
                            real("denoise", 1.0, 0.0, 1.0, 0.01)), List.of(), List.of("LATENT"), false),
            spec("KSamplerAdvanced", "KSampler (Advanced)", "sampling",
                    "KSampler with step bounds; here only the whole schedule with fresh noise.",
                    List.of(link("model", "MODEL"), fixed("add_noise", List.of("enable", "disable")),
                            seed("noise_seed"), STEPS, CFG, combo("sampler_name", Combo.SAMPLERS),
                            combo("scheduler", Combo.SCHEDULERS), link("positive", "CONDITIONING"),
                            link("negative", "CONDITIONING"), link("latent_image", "LATENT"),
                            integer("start_at_step", 0, 0, 10000, 1), integer("end_at_step", 10000, 0, 10000, 1),
                            fixed("return_with_leftover_noise", List.of("disable", "enable"))),
                    List.of(), List.of("LATENT"), false),
            spec("FluxGuidance", "FluxGuidance", "advanced/conditioning/flux", "FLUX's distilled guidance.",
                    List.of(link("conditioning", "CONDITIONING"), real("guidance", 3.5, 0.0, 100.0, 0.1)),
                    List.of(), List.of("CONDITIONING"), false),
            spec("VAEDecode", "VAE Decode", "latent", "Decodes latents into images.",
                    List.of(link("samples", "LATENT"), link("vae", "VAE")), List.of(), List.of("IMAGE"), false),
            spec("VAEDecodeTiled", "VAE Decode (Tiled)", "_for_testing",
                    "Decodes latents into images in tiles (diffusers' tiling: tile_size is read; the seams are faded "
                            + "over a quarter of a tile whatever the overlap).",
                    List.of(link("samples", "LATENT"), link("vae", "VAE"), integer("tile_size", 512, 64, 4096, 32),
                            integer("overlap", 64, 0, 4096, 32), integer("temporal_size", 64, 8, 4096, 4),
                            integer("temporal_overlap", 8, 4, 4096, 4)), List.of(), List.of("IMAGE"), false),
            spec("VAEEncodeTiled", "VAE Encode (Tiled)", "_for_testing",
                    "Encodes an image in tiles (image to image), with a VAEDecodeTiled of the same tile_size.",
                    List.of(link("pixels", "IMAGE"), link("vae", "VAE"), integer("tile_size", 512, 64, 4096, 64),
                            integer("overlap", 64, 0, 4096, 32), integer("temporal_size", 64, 8, 4096, 4),
                            integer("temporal_overlap", 8, 4, 4096, 4)), List.of(), List.of("LATENT"), false),
            spec("VAEEncode", "VAE Encode", "latent", "Encodes an image (image to image).",
                    List.of(link("pixels", "IMAGE"), link("vae", "VAE")), List.of(), List.of("LATENT"), false),
            spec("LoadImage", "Load Image", "image", "An image uploaded with POST /upload/image.",
                    List.of(new Input("image", "COMBO", Map.of("image_upload", true), Combo.IMAGES, null)),
                    List.of(), List.of("IMAGE", "MASK"), false),
            spec("LoadImageMask", "Load Image (as Mask)", "mask", "A mask from a channel of an uploaded image.",
                    List.of(new Input("image", "COMBO", Map.of("image_upload", true), Combo.IMAGES, null),
                            fixed("channel", List.of("alpha", "red", "green", "blue"))), List.of(), List.of("MASK"),
                    false),
            spec("SetLatentNoiseMask", "Set Latent Noise Mask", "latent/inpaint",
                    "Only the masked part of the encoded image is denoised (inpainting).",
                    List.of(link("samples", "LATENT"), link("mask", "MASK")), List.of(), List.of("LATENT"), false),
            spec("SaveImage", "Save Image", "image", "Saves the images (GET /view serves them).",
                    List.of(link("images", "IMAGE"), new Input("filename_prefix", "STRING",
                            opts("default", "ComfyUI"), null, null)), List.of(), List.of(), true),
            spec("PreviewImage", "Preview Image", "image", "Keeps the images as temporary ones.",
                    List.of(link("images", "IMAGE")), List.of(), List.of(), true)));

    private static Map<String, Spec> index(List<Spec> specs) {
        Map<String, Spec> m = new LinkedHashMap<>();
        specs.forEach(s -> m.put(s.name(), s));
        return java.util.Collections.unmodifiableMap(m);
    }

    private ComfyNodes() {
    }

    /** ComfyUI's {@code node_info} for one class ({@code server.py}), its combos filled from {@code choices}. */
    static Map<String, Object> info(Spec s, Choices choices) {
        Map<String, Object> input = new LinkedHashMap<>();
        input.put("required", inputs(s.required(), choices));
        if (!s.optional().isEmpty()) {
            input.put("optional", inputs(s.optional(), choices));
        }
        Map<String, Object> order = new LinkedHashMap<>();
        order.put("required", s.required().stream().map(Input::name).toList());
        if (!s.optional().isEmpty()) {
            order.put("optional", s.optional().stream().map(Input::name).toList());
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("input", input);
        m.put("input_order", order);
        m.put("is_input_list", false);
        m.put("output", s.outputs());
        m.put("output_is_list", s.outputs().stream().map(o -> false).toList());
        m.put("output_name", s.outputNames());
        m.put("name", s.name());
        m.put("display_name", s.displayName());
        m.put("description", s.description());
        m.put("python_module", "nodes");
        m.put("category", s.category());
        m.put("output_node", s.outputNode());
        m.put("has_intermediate_output", false);
        m.put("search_aliases", List.of());
        return m;
    }

    private static Map<String, Object> inputs(List<Input> list, Choices choices) {
        Map<String, Object> m = new LinkedHashMap<>();
        Function<Input, Object> shape = i -> {
            if (i.combo() != null) {
                return i.options().isEmpty() ? List.of(i.choices(choices)) : List.of(i.choices(choices), i.options());
            }
            return i.options().isEmpty() ? List.of(i.type()) : List.of(i.type(), i.options());
        };
        list.forEach(i -> m.put(i.name(), shape.apply(i)));
        return m;
    }
}
