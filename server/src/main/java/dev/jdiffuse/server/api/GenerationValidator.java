package dev.jdiffuse.server.api;

import dev.jdiffuse.models.lora.LoraSpec;
import dev.jdiffuse.models.pipeline.ControlSpec;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.HiresFix;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.Outpaint;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PreviewSpec;
import dev.jdiffuse.models.pipeline.VaeTiling;
import dev.jdiffuse.models.prompt.PromptParser;
import dev.jdiffuse.models.prompt.PromptSyntax;
import dev.jdiffuse.models.prompt.PromptSyntaxException;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.jobs.Submission;
import dev.jdiffuse.server.loras.LoraLibrary;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.web.ApiException;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a {@link GenerationBody} into a {@link Submission}: fills defaults from the model's {@link PipelineDefaults},
 * checks every value against {@link Limits}, then asks the model itself ({@link ImagePipeline#check}). Every failure
 * is a 400 naming the field; HTTP and the command line both go through here.
 * References to things that do not exist (model, sampler, schedule, ControlNet, upload) are also 400 with codes
 * {@code unknown_model}, {@code unknown_sampler}, ...: the request named them in its body, and 404 is kept for
 * resources named by the URL path.
 */
public final class GenerationValidator {

    public static final int MIN_SIDE = 64;
    public static final double MAX_GUIDANCE = 30.0;
    public static final double MAX_CONTROL_SCALE = 10.0;
    public static final int MAX_CONTROLNETS = 4;
    public static final int MAX_PREVIEW_SIZE = 1024;
    /** LoRAs of one request (the {@code loras} field and the prompt's tags together). */
    public static final int MAX_LORAS = 8;
    /** Largest LoRA multiplier either way; beyond it an image is noise whatever the LoRA. */
    public static final double MAX_LORA_SCALE = 10.0;
    public static final int DEFAULT_PREVIEW_SIZE = 512;
    /** diffusers' {@code StableDiffusionImg2ImgPipeline} default. */
    public static final double DEFAULT_STRENGTH = 0.75;
    /** diffusers' {@code StableDiffusionInpaintPipeline} default (with a mask or outpainting). */
    public static final double DEFAULT_INPAINT_STRENGTH = 1.0;
    public static final int MAX_MASK_BLUR = 64;
    /** AUTOMATIC1111's default {@code inpaint_full_res_padding}. */
    public static final int DEFAULT_FULL_RES_PADDING = 32;
    public static final int MAX_PADDING = 1024;
    /** AUTOMATIC1111's default hires denoising strength. */
    public static final double DEFAULT_HIRES_STRENGTH = 0.7;
    public static final double MAX_HIRES_SCALE = 4.0;
    /** A1111's "Clip skip" slider goes to 12 (SD1's CLIP has 12 layers). */
    public static final int MAX_CLIP_SKIP = 12;
    /** Largest VAE tile side in pixels (ComfyUI's VAEDecodeTiled limit). */
    public static final int MAX_VAE_TILE = 4096;
    /** Top of the aesthetic-score scale the SDXL refiner was trained on (the LAION aesthetics predictor's 0..10). */
    public static final double MAX_AESTHETIC_SCORE = 10.0;
    /** A seed drawn for a request that gives none (or -1) lies in [0, 2^32), as A1111's do. */
    public static final long RANDOM_SEED_BOUND = 1L << 32;

    private static final Pattern LORA_FIELD = Pattern.compile("^loras\\[(\\d+)\\]");

    private final ModelRegistry models;
    private final UploadStore uploads;
    private final Limits limits;
    private final LoraLibrary loras;
    private volatile dev.jdiffuse.server.embeddings.EmbeddingLibrary embeddings =
            dev.jdiffuse.server.embeddings.EmbeddingLibrary.NONE;
    private final SecureRandom random = new SecureRandom();

    public GenerationValidator(ModelRegistry models, UploadStore uploads, Limits limits) {
        this(models, uploads, limits, LoraLibrary.NONE);
    }

    public GenerationValidator(ModelRegistry models, UploadStore uploads, Limits limits, LoraLibrary loras) {
        this.models = models;
        this.uploads = uploads;
        this.limits = limits;
        this.loras = loras;
    }

    /** The {@code --embeddings} folder whose embeddings prompts may name. */
    public void useEmbeddings(dev.jdiffuse.server.embeddings.EmbeddingLibrary library) {
        this.embeddings = library;
    }

    /** Validates against the named (or default) model, which must be loaded ({@code model_not_loaded} otherwise). */
    public Submission validate(GenerationBody b) {
        return validate(b, resolveModel(b.model()));
    }

    /** Validates against {@code model} (a request for a model that was not loaded is checked once it loads). */
    public Submission validate(GenerationBody b, LoadedModel model) {
        ImagePipeline p = model.pipeline();
        PipelineDefaults d = p.defaults();

        String given = b.prompt() == null ? "" : b.prompt();
        String negative = b.negativePrompt() == null ? "" : b.negativePrompt();
        checkLength("prompt", given);
        PromptLoras.Parsed tagged = PromptLoras.parse(given);
        String prompt = tagged.prompt();
        checkLength("negative_prompt", negative);

        int unit = Math.max(1, p.pixelsPerLatent());
        GenerationRequest.InitImage init = init(b);
        Outpaint outpaint = outpaint(b, init, unit);
        int width = b.width() != null ? b.width() : outpaint != null ? outpaint.width(init.image().getWidth())
                : d.width();
        int height = b.height() != null ? b.height() : outpaint != null ? outpaint.height(init.image().getHeight())
                : d.height();
        if (outpaint != null && (width != outpaint.width(init.image().getWidth())
                || height != outpaint.height(init.image().getHeight()))) {
            throw ApiException.invalid(b.width() != null ? "width" : "height", "with outpaint the size is the "
                    + "extended canvas, " + outpaint.width(init.image().getWidth()) + "x"
                    + outpaint.height(init.image().getHeight()) + ": leave width and height out");
        }
        checkSide("width", width, unit);
        checkSide("height", height, unit);
        if ((long) width * height > limits.maxPixels()) {
            throw ApiException.invalid("width", "width x height = " + (long) width * height
                    + " pixels exceeds the limit of " + limits.maxPixels());
        }

        int steps = b.steps() == null ? d.steps() : b.steps();
        if (steps < 1 || steps > limits.maxSteps()) {
            throw ApiException.invalid("steps", "steps must be 1.." + limits.maxSteps() + ", got " + steps);
        }
        String sampler = b.sampler() == null ? d.sampler() : b.sampler();
        String schedule = b.schedule() == null ? d.schedule() : b.schedule();
        double guidance = b.guidanceScale() == null ? d.guidanceScale() : b.guidanceScale();
        checkRange("guidance_scale", guidance, 0.0, MAX_GUIDANCE);
        double rescale = b.guidanceRescale() == null ? 0.0 : b.guidanceRescale();
        checkRange("guidance_rescale", rescale, 0.0, 1.0);
        double trueCfg = b.trueCfgScale() == null ? 1.0 : b.trueCfgScale();
        checkRange("true_cfg_scale", trueCfg, 1.0, MAX_GUIDANCE);
        long seed = resolveSeed(b.seed(), "seed");
        int batch = b.batchSize() == null ? 1 : b.batchSize();
        if (batch < 1 || batch > limits.maxBatch()) {
            throw ApiException.invalid("batch_size", "batch_size must be 1.." + limits.maxBatch() + ", got " + batch);
        }
        if (b.classLabel() != null && b.classLabel() < 0) {
            throw ApiException.invalid("class_label", "class_label must be >= 0, got " + b.classLabel());
        }
        List<Submission.ControlRef> refs = new ArrayList<>();
        List<ControlSpec> controls = controls(b.controlnets(), p, refs);
        PreviewSpec preview = preview(b.preview());

        GenerationRequest request = new GenerationRequest(prompt, negative, width, height, steps, sampler, schedule,
                guidance, rescale, seed, batch, b.classLabel(), controls, preview, init, variation(b), List.of(),
                inpaint(b, init), hires(b, width, height, unit));
        if (outpaint != null) {
            request = outpaint.apply(request, maskBlur(b), Boolean.TRUE.equals(b.pasteBack()));
        }
        request = prompts(b, request);
        request = request.withAesthetics(aesthetics(b)).withTrueCfgScale(trueCfg);
        // ComfyUI's and A1111's level drop for DPM2 & co.; a non-boolean is refused by the JSON reader (invalid_type)
        request = request.withDiscardPenultimateSigma(Boolean.TRUE.equals(b.discardPenultimateSigma()));
        request = request.withVaeTiling(vaeTiling(b));
        List<Submission.LoraRef> loraRefs = new ArrayList<>();
        request = request.withLoras(loras(b.loras(), tagged.tags(), loraRefs));
        // the model's own check (sampler and schedule for its noise space, size multiples, classes, LoRAs that fit
        // its weights...): the only model-dependent validation; the worker relies on it
        // textual-inversion embeddings named in the prompts: the model reads the folder's set once per request
        p.useEmbeddings(embeddings::snapshot);
        List<FieldError> refused = p.check(request);
        if (!refused.isEmpty()) {
            throw ApiException.of(fromPrompt(refused.get(0), b.loras() == null ? 0 : b.loras().size()));
        }
        List<Submission.EmbeddingRef> used = new ArrayList<>();
        p.embeddingsUsed(request).forEach(e -> used.add(new Submission.EmbeddingRef(e.name(), e.hash())));
        return new Submission(model, request, refs, b.initImage(), loraRefs, b.mask(), outpaint, used);
    }

    /**
     * The {@code loras} field's LoRAs, then the prompt's {@code <lora:name:scale>} tags, by name from the
     * {@code --loras} folder; the hash of each goes to {@code refs} for the image metadata.
     */
    private List<LoraSpec> loras(List<GenerationBody.LoraBody> list, List<PromptLoras.Tag> tags,
            List<Submission.LoraRef> refs) {
        List<GenerationBody.LoraBody> given = list == null ? List.of() : list;
        if (given.size() + tags.size() > MAX_LORAS) {
            throw ApiException.invalid(given.size() > MAX_LORAS ? "loras" : "prompt", "at most " + MAX_LORAS
                    + " LoRAs (loras and <lora:...> tags together), got " + (given.size() + tags.size()));
        }
        List<LoraSpec> specs = new ArrayList<>();
        for (int i = 0; i < given.size() + tags.size(); i++) {
            boolean inPrompt = i >= given.size();
            String at = inPrompt ? "prompt" : "loras[" + i + "]";
            GenerationBody.LoraBody l = inPrompt ? null : given.get(i);
            if (!inPrompt && (l == null || l.name() == null)) {
                throw ApiException.invalid(l == null ? at : at + ".name", "a LoRA needs a name; GET /v1/loras lists "
                        + "them");
            }
            String name = inPrompt ? tags.get(i - given.size()).name() : l.name();
            double scale = inPrompt ? tags.get(i - given.size()).scale() : l.scale() == null ? 1.0 : l.scale();
            if (!(Math.abs(scale) <= MAX_LORA_SCALE)) {
                throw ApiException.invalid(inPrompt ? at : at + ".scale", "the multiplier of LoRA '" + name
                        + "' must be in [-" + MAX_LORA_SCALE + ", " + MAX_LORA_SCALE + "], got " + scale);
            }
            LoraLibrary.Entry e = loras.get(name).orElseThrow(() -> new ApiException(400, "unknown_lora",
                    "unknown LoRA '" + name + "'" + (loras.folder() == null ? " (the server has no --loras folder)"
                            : "; GET /v1/loras lists them"), inPrompt ? at : at + ".name"));
            specs.add(new LoraSpec(e.name(), e.file(), scale));
            refs.add(new Submission.LoraRef(e.name(), scale, e.hashes().shortHash()));
        }
        return specs;
    }

    /** The model's complaint about LoRA k names the prompt when that LoRA came from a tag in it. */
    private static FieldError fromPrompt(FieldError e, int listed) {
        Matcher m = LORA_FIELD.matcher(e.field() == null ? "" : e.field());
        return m.find() && Integer.parseInt(m.group(1)) >= listed ? new FieldError("prompt", e.code(), e.message()) : e;
    }

    private LoadedModel resolveModel(String name) {
        String n = modelName(name);
        return models.loaded(n).orElseThrow(() -> new ApiException(409, "model_not_loaded", "model '" + n
                + "' is not loaded; a generation naming it loads it", "model"));
    }

    /**
     * The model a request names (or the default), checked to exist and not to have failed to load; it may not be
     * loaded yet.
     */
    public String modelName(String name) {
        if (models.isEmpty()) {
            throw new ApiException(503, "not_ready", "no model is loaded", null);
        }
        String n = name == null ? models.defaultName().orElseThrow() : name;
        if (!models.contains(n)) {
            throw new ApiException(400, "unknown_model", "unknown model '" + n + "'; GET /v1/models lists them",
                    "model");
        }
        models.failure(n).ifPresent(reason -> {
            throw new ApiException(503, "model_unavailable", "model '" + n + "' could not be loaded: " + reason,
                    "model");
        });
        return n;
    }

    private void checkLength(String field, String text) {
        if (text.length() > limits.maxPromptChars()) {
            throw ApiException.invalid(field, field + " has " + text.length() + " characters; the limit is "
                    + limits.maxPromptChars());
        }
    }

    private void checkSide(String field, int v, int unit) {
        if (v < MIN_SIDE || v > limits.maxSide() || v % unit != 0) {
            throw ApiException.invalid(field, field + " must be a multiple of " + unit + " in " + MIN_SIDE + ".."
                    + limits.maxSide() + ", got " + v);
        }
    }

    private static void checkRange(String field, double v, double min, double max) {
        if (!(v >= min && v <= max)) {
            throw ApiException.invalid(field, field + " must be in [" + min + ", " + max + "], got " + v);
        }
    }

    private long resolveSeed(Long seed, String field) {
        if (seed == null || seed == -1) {
            return random.nextLong(RANDOM_SEED_BOUND);
        }
        if (seed < 0) {
            throw ApiException.invalid(field, field + " must be >= 0 (or -1 for a random one), got " + seed);
        }
        return seed;
    }

    private List<ControlSpec> controls(List<GenerationBody.ControlNetBody> list, ImagePipeline p,
            List<Submission.ControlRef> refs) {
        if (list == null || list.isEmpty()) {
            return List.of();
        }
        if (list.size() > MAX_CONTROLNETS) {
            throw ApiException.invalid("controlnets", "at most " + MAX_CONTROLNETS + " controlnets, got "
                    + list.size());
        }
        List<ControlSpec> specs = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            GenerationBody.ControlNetBody c = list.get(i);
            String at = "controlnets[" + i + "]";
            if (c == null) {
                throw ApiException.invalid(at, at + " must be an object");
            }
            if (c.model() == null || !p.controlnets().contains(c.model())) {
                throw new ApiException(400, "unknown_controlnet", "unknown controlnet '" + c.model()
                        + "' for this model; GET /v1/models lists them", at + ".model");
            }
            if (c.image() == null) {
                throw ApiException.invalid(at + ".image", "a controlnet needs an image (an upload id)");
            }
            var upload = uploads.get(c.image()).orElseThrow(() -> new ApiException(400, "unknown_upload",
                    "unknown or expired upload '" + c.image() + "'; POST /v1/uploads first", at + ".image"));
            double scale = c.scale() == null ? 1.0 : c.scale();
            double start = c.start() == null ? 0.0 : c.start();
            double end = c.end() == null ? 1.0 : c.end();
            checkRange(at + ".scale", scale, 0.0, MAX_CONTROL_SCALE);
            checkRange(at + ".start", start, 0.0, 1.0);
            checkRange(at + ".end", end, 0.0, 1.0);
            if (start > end) {
                throw ApiException.invalid(at + ".start", "start must not be after end");
            }
            specs.add(new ControlSpec(c.model(), upload.image(), scale, start, end));
            refs.add(new Submission.ControlRef(c.model(), c.image(), scale, start, end));
        }
        return specs;
    }

    /**
     * {@code clip_skip} (1..{@value #MAX_CLIP_SKIP}, A1111's slider; the model may allow fewer) and
     * {@code prompt_syntax} ({@code a1111}: both prompts must parse; {@code plain}: literal text).
     */
    private static GenerationRequest prompts(GenerationBody b, GenerationRequest request) {
        int clipSkip = b.clipSkip() == null ? 1 : b.clipSkip();
        if (clipSkip < 1 || clipSkip > MAX_CLIP_SKIP) {
            throw ApiException.invalid("clip_skip", "clip_skip must be 1.." + MAX_CLIP_SKIP + " (1 = CLIP's last "
                    + "layer), got " + clipSkip);
        }
        PromptSyntax syntax;
        try {
            syntax = b.promptSyntax() == null ? PromptSyntax.A1111 : PromptSyntax.of(b.promptSyntax());
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("prompt_syntax", e.getMessage());
        }
        if (syntax == PromptSyntax.A1111) {
            checkSyntax("prompt", request.prompt());
            checkSyntax("negative_prompt", request.negativePrompt());
        }
        return request.withClipSkip(clipSkip).withPromptSyntax(syntax);
    }

    /**
     * {@code vae_tiling} ({@code auto}, the default: whole, in tiles only where the device runs out of memory;
     * {@code always}: in tiles wherever the image is larger than one; {@code never}) and {@code vae_tile_size} (pixels,
     * a multiple of 32 from 64 to 4096; default the VAE's {@code sample_size}).
     */
    private static VaeTiling vaeTiling(GenerationBody b) {
        VaeTiling.Mode mode = VaeTiling.Mode.AUTO;
        if (b.vaeTiling() != null) {
            try {
                mode = VaeTiling.Mode.valueOf(b.vaeTiling().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("vae_tiling", "vae_tiling must be auto, always or never, got '"
                        + b.vaeTiling() + "'");
            }
        }
        int tile = b.vaeTileSize() == null ? 0 : b.vaeTileSize();
        if (b.vaeTileSize() != null && (tile < VaeTiling.MIN_TILE || tile > MAX_VAE_TILE
                || tile % VaeTiling.TILE_MULTIPLE != 0)) {
            throw ApiException.invalid("vae_tile_size", "vae_tile_size must be a multiple of "
                    + VaeTiling.TILE_MULTIPLE + " from " + VaeTiling.MIN_TILE + " to " + MAX_VAE_TILE + ", got " + tile);
        }
        return new VaeTiling(mode, tile);
    }

    /**
     * The SDXL refiner's {@code aesthetic_score} and {@code negative_aesthetic_score} (diffusers' defaults 6.0 and
     * 2.5; the LAION aesthetics predictor's 0..10 scale). Models without aesthetic-score conditioning ignore them.
     */
    static GenerationRequest.Aesthetics aesthetics(GenerationBody b) {
        GenerationRequest.Aesthetics d = GenerationRequest.Aesthetics.DEFAULT;
        double score = b.aestheticScore() == null ? d.score() : b.aestheticScore();
        double negative = b.negativeAestheticScore() == null ? d.negativeScore() : b.negativeAestheticScore();
        checkRange("aesthetic_score", score, 0.0, MAX_AESTHETIC_SCORE);
        checkRange("negative_aesthetic_score", negative, 0.0, MAX_AESTHETIC_SCORE);
        return new GenerationRequest.Aesthetics(score, negative);
    }

    private static void checkSyntax(String field, String text) {
        try {
            PromptParser.parse(text);
        } catch (PromptSyntaxException e) {
            throw ApiException.invalid(field, field + ": " + e.getMessage() + " (escape literal brackets as \\( \\) "
                    + "or set prompt_syntax to plain)");
        }
    }

    /** AUTOMATIC1111's variation seed: {@code subseed} (absent or -1: drawn) blended at {@code subseed_strength}. */
    private GenerationRequest.Variation variation(GenerationBody b) {
        if (b.subseedStrength() == null) {
            if (b.subseed() != null) {
                throw ApiException.invalid("subseed", "subseed needs subseed_strength");
            }
            return null;
        }
        checkRange("subseed_strength", b.subseedStrength(), 0.0, 1.0);
        return new GenerationRequest.Variation(resolveSeed(b.subseed(), "subseed"), b.subseedStrength());
    }

    /**
     * Inpainting: an uploaded mask of the init image's size (white = repaint), {@code mask_blur} (default 0, as
     * diffusers), {@code inpaint_full_res} with its padding (A1111's "only masked"), {@code paste_back}.
     */
    private GenerationRequest.Inpaint inpaint(GenerationBody b, GenerationRequest.InitImage init) {
        if (b.mask() == null) {
            if (b.inpaintFullRes() != null || b.inpaintFullResPadding() != null) {
                throw ApiException.invalid(b.inpaintFullRes() != null ? "inpaint_full_res"
                        : "inpaint_full_res_padding", "applies to inpainting: give mask too");
            }
            if (b.outpaint() == null && (b.maskBlur() != null || b.pasteBack() != null)) {
                throw ApiException.invalid(b.maskBlur() != null ? "mask_blur" : "paste_back",
                        "applies to inpainting: give mask (or outpaint) too");
            }
            return null;
        }
        if (init == null) {
            throw ApiException.invalid("mask", "a mask applies to an init image: give init_image too");
        }
        if (b.outpaint() != null) {
            throw ApiException.invalid("outpaint", "outpaint builds its own mask: leave mask out");
        }
        var upload = uploads.get(b.mask()).orElseThrow(() -> new ApiException(400, "unknown_upload",
                "unknown or expired upload '" + b.mask() + "'; POST /v1/uploads first", "mask"));
        var mask = upload.image();
        var image = init.image();
        if (mask.getWidth() != image.getWidth() || mask.getHeight() != image.getHeight()) {
            throw ApiException.invalid("mask", "the mask is " + mask.getWidth() + "x" + mask.getHeight()
                    + " but the init image is " + image.getWidth() + "x" + image.getHeight());
        }
        boolean onlyMasked = Boolean.TRUE.equals(b.inpaintFullRes());
        int padding = b.inpaintFullResPadding() == null ? DEFAULT_FULL_RES_PADDING : b.inpaintFullResPadding();
        if (padding < 0 || padding > MAX_PADDING) {
            throw ApiException.invalid("inpaint_full_res_padding", "inpaint_full_res_padding must be 0.."
                    + MAX_PADDING + ", got " + padding);
        }
        return new GenerationRequest.Inpaint(mask, maskBlur(b), onlyMasked, padding,
                Boolean.TRUE.equals(b.pasteBack()));
    }

    private static int maskBlur(GenerationBody b) {
        int blur = b.maskBlur() == null ? 0 : b.maskBlur();
        if (blur < 0 || blur > MAX_MASK_BLUR) {
            throw ApiException.invalid("mask_blur", "mask_blur must be 0.." + MAX_MASK_BLUR + ", got " + blur);
        }
        return blur;
    }

    /** Outpainting: pixels per side (absent: 0), needing an init image; the canvas a multiple of {@code unit}. */
    private Outpaint outpaint(GenerationBody b, GenerationRequest.InitImage init, int unit) {
        GenerationBody.OutpaintBody o = b.outpaint();
        if (o == null) {
            return null;
        }
        if (init == null) {
            throw ApiException.invalid("outpaint", "outpaint extends an init image: give init_image too");
        }
        int[] sides = {side(o.left(), "left"), side(o.right(), "right"), side(o.top(), "top"),
            side(o.bottom(), "bottom")};
        if (sides[0] + sides[1] + sides[2] + sides[3] == 0) {
            throw ApiException.invalid("outpaint", "outpaint needs at least one side above 0");
        }
        Outpaint pads = new Outpaint(sides[0], sides[1], sides[2], sides[3]);
        int w = pads.width(init.image().getWidth());
        int h = pads.height(init.image().getHeight());
        if (w % unit != 0 || h % unit != 0) {
            throw ApiException.invalid("outpaint", "the extended canvas " + w + "x" + h + " must be a multiple of "
                    + unit + " on each side (init image " + init.image().getWidth() + "x"
                    + init.image().getHeight() + ")");
        }
        return pads;
    }

    private int side(Integer v, String name) {
        int pixels = v == null ? 0 : v;
        if (pixels < 0 || pixels > limits.maxSide()) {
            throw ApiException.invalid("outpaint." + name, "outpaint." + name + " must be 0.." + limits.maxSide()
                    + ", got " + pixels);
        }
        return pixels;
    }

    /**
     * AUTOMATIC1111's hires fix: {@code scale} (default 2; target size floored to the model's multiple) or
     * {@code width} and {@code height}; {@code steps} (0 = the request's), {@code strength} (default 0.7),
     * {@code upscaler} (default latent); text-to-image only.
     */
    private GenerationRequest.Hires hires(GenerationBody b, int width, int height, int unit) {
        GenerationBody.HiresBody h = b.hires();
        if (h == null) {
            return null;
        }
        if (b.initImage() != null) {
            throw ApiException.invalid("hires", "the hires fix applies to text-to-image: leave init_image out");
        }
        if ((h.width() == null) != (h.height() == null)) {
            throw ApiException.invalid(h.width() == null ? "hires.width" : "hires.height",
                    "give both hires.width and hires.height, or hires.scale");
        }
        if (h.width() != null && h.scale() != null) {
            throw ApiException.invalid("hires.scale", "give hires.scale or hires.width and hires.height, not both");
        }
        double scale = 0;
        int w;
        int ht;
        if (h.width() != null) {
            w = h.width();
            ht = h.height();
        } else {
            scale = h.scale() == null ? 2.0 : h.scale();
            if (!(scale >= 1 && scale <= MAX_HIRES_SCALE)) {
                throw ApiException.invalid("hires.scale", "hires.scale must be in [1, " + MAX_HIRES_SCALE + "], got "
                        + scale);
            }
            w = (int) (width * scale) / unit * unit;
            ht = (int) (height * scale) / unit * unit;
        }
        String at = h.width() != null ? "hires.width" : "hires.scale";
        checkSide(at, w, unit);
        checkSide(h.width() != null ? "hires.height" : "hires.scale", ht, unit);
        if ((long) w * ht > limits.maxPixels()) {
            throw ApiException.invalid(at, "the hires size " + w + "x" + ht + " exceeds the limit of "
                    + limits.maxPixels() + " pixels");
        }
        int steps = h.steps() == null ? 0 : h.steps();
        if (steps < 0 || steps > limits.maxSteps()) {
            throw ApiException.invalid("hires.steps", "hires.steps must be 0 (the request's steps).."
                    + limits.maxSteps() + ", got " + steps);
        }
        double strength = h.strength() == null ? DEFAULT_HIRES_STRENGTH : h.strength();
        if (!(strength > 0 && strength <= 1)) {
            throw ApiException.invalid("hires.strength", "hires.strength must be in (0, 1], got " + strength);
        }
        String upscaler = h.upscaler() == null ? "latent" : h.upscaler();
        if (!HiresFix.UPSCALERS.contains(upscaler)) {
            throw ApiException.invalid("hires.upscaler", "hires.upscaler must be one of " + HiresFix.UPSCALERS
                    + ", got " + upscaler);
        }
        return new GenerationRequest.Hires(w, ht, scale, steps, strength, upscaler);
    }

    /**
     * Image-to-image: an uploaded init image and the strength (default 0.75, as diffusers' img2img; 1 with a mask or
     * outpainting, as diffusers' inpainting).
     */
    private GenerationRequest.InitImage init(GenerationBody b) {
        if (b.initImage() == null) {
            if (b.strength() != null) {
                throw ApiException.invalid("strength", "strength applies to image-to-image: give init_image too");
            }
            return null;
        }
        var upload = uploads.get(b.initImage()).orElseThrow(() -> new ApiException(400, "unknown_upload",
                "unknown or expired upload '" + b.initImage() + "'; POST /v1/uploads first", "init_image"));
        double strength = b.strength() != null ? b.strength()
                : b.mask() != null || b.outpaint() != null ? DEFAULT_INPAINT_STRENGTH : DEFAULT_STRENGTH;
        if (!(strength > 0 && strength <= 1)) {
            throw ApiException.invalid("strength", "strength must be in (0, 1], got " + strength);
        }
        return new GenerationRequest.InitImage(upload.image(), strength);
    }

    private static PreviewSpec preview(GenerationBody.PreviewBody b) {
        if (b == null) {
            return PreviewSpec.NONE;
        }
        PreviewSpec.Method method;
        String m = b.method() == null ? "none" : b.method();
        try {
            method = PreviewSpec.Method.valueOf(m.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("preview.method", "preview.method must be none, rgb, taesd or latent, got "
                    + m);
        }
        if (!m.equals(m.toLowerCase(Locale.ROOT))) {
            throw ApiException.invalid("preview.method", "preview.method is lower case, got " + m);
        }
        int every = b.every() == null ? 1 : b.every();
        if (every < 1) {
            throw ApiException.invalid("preview.every", "preview.every must be >= 1, got " + every);
        }
        int maxSize = b.maxSize() == null ? DEFAULT_PREVIEW_SIZE : b.maxSize();
        if (maxSize < 8 || maxSize > MAX_PREVIEW_SIZE) {
            throw ApiException.invalid("preview.max_size", "preview.max_size must be 8.." + MAX_PREVIEW_SIZE
                    + ", got " + maxSize);
        }
        return new PreviewSpec(method, every, maxSize);
    }
}
