package dev.jdiffuse.server.comfy;

import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import dev.jdiffuse.server.api.GenerationBody;
import dev.jdiffuse.server.comfy.ComfyError.NodeError;
import dev.jdiffuse.server.comfy.ComfyGraph.Link;
import dev.jdiffuse.server.comfy.ComfyGraph.Node;
import dev.jdiffuse.server.models.ModelListing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * A checked graph ({@link ComfyGraph}) read as native generations: each SaveImage or PreviewImage traces its images
 * back through VAEDecode to a KSampler, whose model, prompts and latent trace back to one checkpoint (through LoRA
 * loaders, CLIP skip and FLUX guidance) and to an empty latent (text to image) or an encoded uploaded image (image to
 * image). Each output is one native job of the latent's batch size; outputs that would run the same job share it.
 * What the native pipeline cannot honour is refused naming the node and input ({@code not_supported}).
 *
 * <p>ComfyUI's {@code denoise} runs {@code steps} steps of a schedule of {@code int(steps / denoise)} steps
 * ({@code KSampler.set_steps}); the native image-to-image runs the last {@code floor(steps' x strength)} steps of a
 * {@code steps'}-step schedule (diffusers), so {@code steps' = int(steps / denoise)} and the strength is the smallest
 * {@code >= steps / steps'} for which that floor is {@code steps}: the same steps of the same schedule. Where ComfyUI
 * drops the next-to-last level ({@link ComfySamplers#discardsPenultimateSigma}) it drops it from the levels of
 * {@code steps'} steps before taking their tail, and so does the native job ({@code discard_penultimate_sigma}).
 */
final class ComfyPlan {

    /** Where a native field came from: a node's input. */
    record Ref(String node, String input) {
    }

    /** One native job and the graph inputs its fields came from. */
    record Work(GenerationBody body, Map<String, Ref> fields, String sampler, String samplerClass) {

        /** The node input a native field error names (the sampler node when the field has no source). */
        Ref ref(String field) {
            if (field != null) {
                Ref r = fields.get(field);
                if (r != null) {
                    return r;
                }
                for (var e : fields.entrySet()) {
                    if (field.startsWith(e.getKey() + "[") || field.startsWith(e.getKey() + ".")) {
                        return e.getValue();
                    }
                }
            }
            return new Ref(sampler, null);
        }
    }

    /** One output node: SaveImage ({@code output}) or PreviewImage ({@code temp}), and the job that makes it. */
    record Output(String node, String classType, String type, String subfolder, String prefix, int work) {
    }

    final List<Work> works;
    final List<Output> outputs;

    private ComfyPlan(List<Work> works, List<Output> outputs) {
        this.works = works;
        this.outputs = outputs;
    }

    /** What the plan needs to know of the server. */
    interface Context {
        Optional<ModelListing> model(String name);

        /** The upload id of the caller's uploaded image of this name. */
        String upload(String name);

        /**
         * The upload id of a mask made from the caller's image {@code name} (ComfyUI's mask values: 1 - alpha for
         * {@code alpha}, else the channel), white = repaint; null when the image is gone.
         */
        String mask(String name, String channel);
    }

    /** {@code preview}: the native previews every job asks for (ComfyUI's {@code extra_data.preview_method}), or null. */
    static ComfyPlan of(ComfyGraph g, Context ctx, GenerationBody.PreviewBody preview) {
        List<Work> works = new ArrayList<>();
        List<Output> outputs = new ArrayList<>();
        for (String o : g.outputs) {
            Reader r = new Reader(g, o, ctx);
            Work w = r.output(preview);
            int index = -1;
            for (int i = 0; i < works.size(); i++) {
                if (works.get(i).body().equals(w.body())) {
                    index = i;
                }
            }
            if (index < 0) {
                works.add(w);
                index = works.size() - 1;
            }
            Node out = g.node(o);
            boolean save = out.classType().equals("SaveImage");
            String[] place = save ? prefix(g, out) : new String[] {"", "ComfyUI_temp"};
            outputs.add(new Output(o, out.classType(), save ? "output" : "temp", place[0], place[1], index));
        }
        return new ComfyPlan(List.copyOf(works), List.copyOf(outputs));
    }

    /**
     * SaveImage's {@code filename_prefix} as ComfyUI splits it: a subfolder, then the name's prefix; its variables
     * ({@link SavePathVars}) are kept, to be filled in when the images are named, and count as digits here.
     */
    private static String[] prefix(ComfyGraph g, Node out) {
        String p = out.text("filename_prefix");
        if (p == null) {
            p = "ComfyUI";
        }
        String[] parts = p.replace('\\', '/').split("/", -1);
        for (String part : parts) {
            String filled = SavePathVars.VAR.matcher(part).replaceAll("0");
            if (part.equals("..") || part.equals(".") || !filled.matches("[\\p{L}\\p{N} _.()\\[\\]+,=@#-]*")) {
                throw new Reader(g, out.id(), null).refuse(out, "filename_prefix", "a name prefix with an optional "
                        + "subfolder (letters, digits, space, _ . - ( ) [ ] + , = @ #, and ComfyUI's %width%, "
                        + "%height%, %year%, %month%, %day%, %hour%, %minute%, %second%), no '..'; got '" + p + "'");
            }
        }
        String name = parts[parts.length - 1].isBlank() ? "ComfyUI" : parts[parts.length - 1];
        String sub = String.join("/", java.util.Arrays.asList(parts).subList(0, parts.length - 1)).replaceAll("/+",
                "/").replaceAll("^/|/$", "");
        return new String[] {sub, name};
    }

    /** Reads one output's chain. */
    private static final class Reader {
        final ComfyGraph g;
        final String output;
        final Context ctx;
        final Map<String, Ref> fields = new LinkedHashMap<>();

        Reader(ComfyGraph g, String output, Context ctx) {
            this.g = g;
            this.output = output;
            this.ctx = ctx;
        }

        ComfyError refuse(Node n, String input, String why) {
            return ComfyError.node(n.id(), n.classType(), output, new NodeError("not_supported",
                    "Not supported by jdiffuse", (input == null ? "" : input + ": ") + why, input, null));
        }

        Node from(Node n, String input) {
            return g.node(n.link(input).node());
        }

        Work output(GenerationBody.PreviewBody preview) {
            Node out = g.node(output);
            Node decode = from(out, "images");
            boolean tiled = decode.classType().equals("VAEDecodeTiled");
            if (!decode.classType().equals("VAEDecode") && !tiled) {
                throw refuse(out, "images", "the images must come from a VAEDecode or VAEDecodeTiled of a KSampler's "
                        + "latent (got " + decode.classType() + " #" + decode.id() + ")");
            }
            // VAEDecodeTiled: diffusers' tiling with the node's tile size (its overlap and temporal inputs are not
            // read: the fade is a quarter of a tile, as diffusers'; the temporal ones are for video VAEs)
            Integer tileSize = tiled ? (int) decode.integer("tile_size") : null;
            if (tiled) {
                fields.put("vae_tile_size", new Ref(decode.id(), "tile_size"));
            }
            Node sampler = from(decode, "samples");
            if (!sampler.classType().startsWith("KSampler")) {
                throw refuse(decode, "samples", "the latent must come from a KSampler or KSamplerAdvanced (got "
                        + sampler.classType() + " #" + sampler.id() + ")");
            }
            boolean advanced = sampler.classType().equals("KSamplerAdvanced");
            if (advanced) {
                checkAdvanced(sampler);
            }
            // the model: LoRA loaders back to the checkpoint
            List<Node> modelLoras = new ArrayList<>();
            Node ckpt = trace(sampler, "model", modelLoras, null);
            String nameInput = nameInput(ckpt);
            String model = loaderModel(ckpt);
            fields.put("model", new Ref(ckpt.id(), nameInput));
            ModelListing listing = ctx.model(model).orElseThrow(() -> refuse(ckpt, nameInput, "no model '" + model
                    + "'"));
            boolean flux = "flux".equals(listing.family());
            NoiseSpace space = space(listing);
            if (ckpt.classType().equals("UNETLoader") && !ckpt.text("weight_dtype").equals("default")) {
                throw refuse(ckpt, "weight_dtype", "only 'default' (the server's --dtype)");
            }
            sameModel(decode, "vae", model);
            // the prompts
            Prompt pos = prompt(sampler, "positive", model, listing, modelLoras);
            Prompt neg = prompt(sampler, "negative", model, listing, modelLoras);
            if (!Objects.equals(pos.clipSkip, neg.clipSkip)) {
                throw refuse(neg.encoder, "clip", "the negative prompt's CLIP skip (" + neg.clipSkip + ") differs "
                        + "from the positive's (" + pos.clipSkip + "); one CLIP skip applies to both");
            }
            fields.put("prompt", new Ref(pos.encoder.id(), "text"));
            fields.put("negative_prompt", new Ref(neg.encoder.id(), "text"));
            if (pos.clipSkipNode != null) {
                fields.put("clip_skip", new Ref(pos.clipSkipNode.id(), "stop_at_clip_layer"));
            }
            // sampling
            String seedInput = advanced ? "noise_seed" : "seed";
            long seed = sampler.integer(seedInput);
            fields.put("seed", new Ref(sampler.id(), seedInput));
            int steps = (int) sampler.integer("steps");
            double cfg = sampler.real("cfg");
            String samplerName = ComfySamplers.sampler(sampler.text("sampler_name"), space);
            String schedule = ComfySamplers.schedule(sampler.text("scheduler"), space);
            // KSampler.calculate_sigmas: one step more without the next-to-last level for dpm_2 & co. (KSamplerAdvanced
            // too: its start/end slicing, refused here unless it is the whole schedule, comes after the drop)
            boolean discard = ComfySamplers.discardsPenultimateSigma(sampler.text("sampler_name"));
            fields.put("sampler", new Ref(sampler.id(), "sampler_name"));
            fields.put("schedule", new Ref(sampler.id(), "scheduler"));
            Double guidance;
            Double trueCfg = null;
            String negative = neg.text;
            if (flux) {
                // FLUX dev is guidance-distilled: FluxGuidance is its guidance input (ComfyUI's default 3.5), and a
                // cfg above 1 is real CFG with the negative prompt (the native true_cfg_scale); at cfg 1 ComfyUI
                // skips the negative pass
                guidance = pos.guidance != null ? pos.guidance : 3.5;
                if (pos.guidanceNode != null) {
                    fields.put("guidance_scale", new Ref(pos.guidanceNode.id(), "guidance"));
                }
                if (cfg != 1.0) {
                    trueCfg = cfg;
                    fields.put("true_cfg_scale", new Ref(sampler.id(), "cfg"));
                } else {
                    negative = null;
                }
            } else {
                for (Prompt p : List.of(pos, neg)) {
                    if (p.guidanceNode != null) {
                        throw refuse(p.guidanceNode, "guidance", "FluxGuidance applies to FLUX models; " + model
                                + " is " + listing.family());
                    }
                }
                guidance = cfg;
                fields.put("guidance_scale", new Ref(sampler.id(), "cfg"));
            }
            // the latent
            Node latent = from(sampler, "latent_image");
            double denoise = advanced ? 1.0 : sampler.real("denoise");
            Integer width = null;
            Integer height = null;
            int batch = 1;
            String init = null;
            String mask = null;
            Double strength = null;
            int nativeSteps = steps;
            switch (latent.classType()) {
                case "EmptyLatentImage", "EmptySD3LatentImage" -> {
                    width = (int) latent.integer("width");
                    height = (int) latent.integer("height");
                    batch = (int) latent.integer("batch_size");
                    fields.put("width", new Ref(latent.id(), "width"));
                    fields.put("height", new Ref(latent.id(), "height"));
                    fields.put("batch_size", new Ref(latent.id(), "batch_size"));
                    if (denoise != 1.0) {
                        throw refuse(sampler, "denoise", "denoise below 1 needs an image to start from "
                                + "(VAEEncode of a LoadImage); an empty latent is denoised fully");
                    }
                }
                case "SetLatentNoiseMask", "VAEEncode", "VAEEncodeTiled" -> {
                    if (latent.classType().equals("SetLatentNoiseMask")) {
                        Node maskNode = from(latent, "mask");
                        Link ml = latent.link("mask");
                        String channel = maskNode.classType().equals("LoadImageMask") ? maskNode.text("channel")
                                : "alpha"; // LoadImage's MASK output: 1 - alpha
                        try {
                            mask = ctx.mask(maskNode.text("image"), channel);
                        } catch (IllegalArgumentException e) {
                            throw refuse(maskNode, maskNode.classType().equals("LoadImageMask") ? "channel" : "image",
                                    e.getMessage());
                        }
                        if (mask == null) {
                            throw refuse(maskNode, "image", "the uploaded image is no longer kept; upload it again");
                        }
                        fields.put("mask", new Ref(maskNode.id(), "image"));
                        fields.put("mask_blur", new Ref(latent.id(), "mask"));
                        Node enc = from(latent, "samples");
                        if (!enc.classType().equals("VAEEncode") && !enc.classType().equals("VAEEncodeTiled")) {
                            throw refuse(latent, "samples", "must be a VAEEncode of a LoadImage (got "
                                    + enc.classType() + " #" + enc.id() + ")");
                        }
                        if (ml.output() != 0 && !maskNode.classType().equals("LoadImage")) {
                            throw refuse(latent, "mask", "must be a LoadImageMask or LoadImage's MASK");
                        }
                        latent = enc;
                    }
                    sameModel(latent, "vae", model);
                    // one tiling here for a job's encoding and decoding: both tiled alike, or neither
                    boolean encodeTiled = latent.classType().equals("VAEEncodeTiled");
                    if (encodeTiled != tiled) {
                        throw refuse(latent, null, "a job's VAE encoding and decoding are tiled alike here: use "
                                + "VAEEncodeTiled with VAEDecodeTiled, or VAEEncode with VAEDecode");
                    }
                    if (encodeTiled && latent.integer("tile_size") != tileSize) {
                        throw refuse(latent, "tile_size", "must equal the VAEDecodeTiled's tile_size (" + tileSize
                                + "): one tile size for a job here");
                    }
                    Node load = from(latent, "pixels");
                    if (!load.classType().equals("LoadImage")) {
                        throw refuse(latent, "pixels", "the pixels must come from a LoadImage (got "
                                + load.classType() + " #" + load.id() + ")");
                    }
                    init = ctx.upload(load.text("image"));
                    fields.put("init_image", new Ref(load.id(), "image"));
                    if (denoise <= 0) {
                        throw refuse(sampler, "denoise", "denoise 0 leaves the image as it is; give a value in "
                                + "(0, 1]");
                    }
                    nativeSteps = (int) (steps / denoise);
                    double s = Math.min(1.0, (double) steps / nativeSteps);
                    while ((int) (nativeSteps * s) < steps && s < 1.0) {
                        s = Math.nextUp(s);
                    }
                    strength = s;
                    fields.put("steps", new Ref(sampler.id(), "steps"));
                    fields.put("strength", new Ref(sampler.id(), "denoise"));
                }
                default -> throw refuse(sampler, "latent_image", "the latent must come from EmptyLatentImage, "
                        + "EmptySD3LatentImage, VAEEncode or SetLatentNoiseMask (got " + latent.classType() + " #"
                        + latent.id() + ")");
            }
            fields.putIfAbsent("steps", new Ref(sampler.id(), "steps"));
            List<GenerationBody.LoraBody> loras = new ArrayList<>();
            for (int i = 0; i < modelLoras.size(); i++) {
                Node l = modelLoras.get(i);
                loras.add(new GenerationBody.LoraBody(ComfyNames.bare(l.text("lora_name")), l.real("strength_model")));
                fields.put("loras[" + i + "]", new Ref(l.id(), "lora_name"));
            }
            fields.put("loras", modelLoras.isEmpty() ? new Ref(sampler.id(), "model")
                    : new Ref(modelLoras.get(0).id(), "lora_name"));
            GenerationBody body = new GenerationBody(model, pos.text, negative, width, height, nativeSteps,
                    samplerName, schedule, guidance, null, seed, batch, null, null, preview, init, strength, null, null,
                    mask, null, null, null, null, null, null, loras.isEmpty() ? null : loras,
                    pos.clipSkip, null, null, null, trueCfg, discard ? Boolean.TRUE : null, tiled ? "always" : null,
                    tileSize);
            return new Work(body, Map.copyOf(fields), sampler.id(), sampler.classType());
        }

        private void checkAdvanced(Node s) {
            if (!s.text("add_noise").equals("enable")) {
                throw refuse(s, "add_noise", "only 'enable' (sampling starts from fresh noise)");
            }
            if (s.integer("start_at_step") != 0) {
                throw refuse(s, "start_at_step", "only 0 (the whole schedule)");
            }
            if (s.integer("end_at_step") < s.integer("steps")) {
                throw refuse(s, "end_at_step", "only at or beyond steps (the whole schedule)");
            }
            if (!s.text("return_with_leftover_noise").equals("disable")) {
                throw refuse(s, "return_with_leftover_noise", "only 'disable'");
            }
        }

        /** The model a loader names (CheckpointLoaderSimple, UNETLoader, DualCLIPLoader, VAELoader). */
        private static String loaderModel(Node n) {
            return ComfyNames.bare(n.text(nameInput(n)));
        }

        private static String nameInput(Node n) {
            return switch (n.classType()) {
                case "CheckpointLoaderSimple" -> "ckpt_name";
                case "UNETLoader" -> "unet_name";
                case "DualCLIPLoader" -> "clip_name1";
                case "VAELoader" -> "vae_name";
                default -> throw new IllegalStateException(n.classType());
            };
        }

        /** Whether the VAE {@code input} of {@code n} is model {@code model}'s (its checkpoint's or a VAELoader's). */
        private void sameModel(Node n, String input, String model) {
            Node from = from(n, input);
            if (!loaderModel(from).equals(model)) {
                throw refuse(n, input, "must be the VAE of the sampler's model " + model + " (got "
                        + from.classType() + " #" + from.id() + " of " + loaderModel(from) + "); each model uses its "
                        + "own VAE here");
            }
        }

        /**
         * Follows a MODEL ({@code clipSide} null) or CLIP link back to its CheckpointLoaderSimple, collecting the LoRA
         * loaders on the way (nearest the checkpoint first) and, on the CLIP side, the CLIP skip.
         */
        private Node trace(Node n, String input, List<Node> loras, Prompt clipSide) {
            Node cur = from(n, input);
            List<Node> found = new ArrayList<>();
            Node via = n;
            String viaInput = input;
            while (true) {
                switch (cur.classType()) {
                    case "CheckpointLoaderSimple", "UNETLoader", "DualCLIPLoader" -> {
                        java.util.Collections.reverse(found);
                        loras.addAll(found);
                        return cur;
                    }
                    case "LoraLoader" -> {
                        if (cur.real("strength_clip") != cur.real("strength_model")) {
                            throw refuse(cur, "strength_clip", "must equal strength_model (" + cur.real(
                                    "strength_model") + "): a LoRA applies at one multiplier to the model and its "
                                    + "text encoder here");
                        }
                        found.add(cur);
                        via = cur;
                        viaInput = clipSide == null ? "model" : "clip";
                        cur = from(cur, viaInput);
                    }
                    case "CLIPSetLastLayer" -> {
                        if (clipSide.clipSkipNode != null) {
                            throw refuse(cur, "clip", "one CLIPSetLastLayer per prompt");
                        }
                        if (!found.isEmpty()) {
                            throw refuse(cur, "clip", "put CLIPSetLastLayer after the LoRA loaders (nearer the "
                                    + "text encoder node)");
                        }
                        clipSide.clipSkipNode = cur;
                        long layer = cur.integer("stop_at_clip_layer");
                        clipSide.clipSkip = layer == -1 ? null : (int) -layer;
                        via = cur;
                        viaInput = "clip";
                        cur = from(cur, "clip");
                    }
                    default -> throw refuse(via, viaInput, "must come from a CheckpointLoaderSimple or "
                            + (clipSide == null ? "UNETLoader" : "DualCLIPLoader") + " (through LoraLoader or "
                            + "CLIPSetLastLayer nodes); got " + cur.classType() + " #" + cur.id());
                }
            }
        }

        /** One side's prompt: its text encoder, FLUX guidance, CLIP skip; its CLIP from the same checkpoint and LoRAs. */
        private Prompt prompt(Node sampler, String input, String model, ModelListing listing, List<Node> modelLoras) {
            Prompt p = new Prompt();
            Node cur = from(sampler, input);
            Node via = sampler;
            String viaInput = input;
            while (cur.classType().equals("FluxGuidance")) {
                if (p.guidanceNode != null) {
                    throw refuse(cur, "conditioning", "one FluxGuidance per prompt");
                }
                p.guidanceNode = cur;
                p.guidance = cur.real("guidance");
                via = cur;
                viaInput = "conditioning";
                cur = from(cur, "conditioning");
            }
            if (!cur.classType().equals("CLIPTextEncode")) {
                throw refuse(via, viaInput, "must come from CLIPTextEncode (optionally through FluxGuidance); got "
                        + cur.classType() + " #" + cur.id());
            }
            p.encoder = cur;
            p.text = cur.text("text");
            if (p.text.contains("<lora:") || p.text.contains("<lyco:")) {
                throw refuse(cur, "text", "ComfyUI encodes '<lora:...>' literally; load LoRAs with LoraLoader nodes");
            }
            List<Node> loras = new ArrayList<>();
            Node c = trace(cur, "clip", loras, p);
            if (!loaderModel(c).equals(model)) {
                throw refuse(cur, "clip", "must be the text encoders of the sampler's model " + model + " (got "
                        + c.classType() + " #" + c.id() + " of " + loaderModel(c) + "); each model uses its own here");
            }
            if (c.classType().equals("DualCLIPLoader")) {
                dualClip(c, listing);
            }
            Function<List<Node>, List<String>> ids = l -> l.stream().map(Node::id).toList();
            if (!ids.apply(loras).equals(ids.apply(modelLoras))) {
                Node at = loras.isEmpty() ? cur : loras.get(0);
                throw refuse(at, "clip", "the prompt's CLIP passes LoRA loaders "
                        + ids.apply(loras) + " but the sampler's model passes " + ids.apply(modelLoras)
                        + "; a LoRA applies to both here, so both must pass the same LoraLoader nodes");
            }
            return p;
        }

        /** DualCLIPLoader names one model twice, its type is the model's family, on the model's device. */
        private void dualClip(Node c, ModelListing listing) {
            if (!ComfyNames.bare(c.text("clip_name2")).equals(loaderModel(c))) {
                throw refuse(c, "clip_name2", "must name the same model as clip_name1 (" + loaderModel(c) + "): a "
                        + "model's own text encoders are used");
            }
            if (!c.text("type").equals(listing.family())) {
                throw refuse(c, "type", "the model " + listing.name() + " is " + listing.family() + ", not "
                        + c.text("type"));
            }
            String device = c.text("device");
            if (device != null && !device.equals("default")) {
                throw refuse(c, "device", "only 'default' here (the server's --t5-device places T5)");
            }
        }

        private static NoiseSpace space(ModelListing l) {
            if (l.info() != null) {
                return SamplerCatalog.sampler(l.info().defaults().sampler()).map(SamplerCatalog.Entry::space)
                        .orElse(NoiseSpace.DIFFUSION);
            }
            return "flux".equals(l.family()) || "sd3".equals(l.family()) ? NoiseSpace.FLOW : NoiseSpace.DIFFUSION;
        }
    }

    /** What one prompt side resolved to. */
    private static final class Prompt {
        Node encoder;
        String text;
        Node guidanceNode;
        Double guidance;
        Node clipSkipNode;
        Integer clipSkip;
    }
}
