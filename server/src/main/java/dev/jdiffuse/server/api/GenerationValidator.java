package dev.jdiffuse.server.api;

import dev.jdiffuse.models.pipeline.ControlSpec;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PreviewSpec;
import dev.jdiffuse.models.prompt.PromptParser;
import dev.jdiffuse.models.prompt.PromptSyntax;
import dev.jdiffuse.models.prompt.PromptSyntaxException;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.jobs.Submission;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.web.ApiException;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

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
    public static final int DEFAULT_PREVIEW_SIZE = 512;
    /** diffusers' {@code StableDiffusionImg2ImgPipeline} default. */
    public static final double DEFAULT_STRENGTH = 0.75;
    /** A1111's "Clip skip" slider goes to 12 (SD1's CLIP has 12 layers). */
    public static final int MAX_CLIP_SKIP = 12;
    /** A seed drawn for a request that gives none (or -1) lies in [0, 2^32), as A1111's do. */
    public static final long RANDOM_SEED_BOUND = 1L << 32;

    private final ModelRegistry models;
    private final UploadStore uploads;
    private final Limits limits;
    private final SecureRandom random = new SecureRandom();

    public GenerationValidator(ModelRegistry models, UploadStore uploads, Limits limits) {
        this.models = models;
        this.uploads = uploads;
        this.limits = limits;
    }

    /** Validates against the named (or default) model, which must be loaded ({@code model_not_loaded} otherwise). */
    public Submission validate(GenerationBody b) {
        return validate(b, resolveModel(b.model()));
    }

    /** Validates against {@code model} (a request for a model that was not loaded is checked once it loads). */
    public Submission validate(GenerationBody b, LoadedModel model) {
        ImagePipeline p = model.pipeline();
        PipelineDefaults d = p.defaults();

        String prompt = b.prompt() == null ? "" : b.prompt();
        String negative = b.negativePrompt() == null ? "" : b.negativePrompt();
        checkLength("prompt", prompt);
        checkLength("negative_prompt", negative);

        int unit = Math.max(1, p.pixelsPerLatent());
        int width = b.width() == null ? d.width() : b.width();
        int height = b.height() == null ? d.height() : b.height();
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

        GenerationRequest.InitImage init = init(b);
        GenerationRequest request = new GenerationRequest(prompt, negative, width, height, steps, sampler, schedule,
                guidance, rescale, seed, batch, b.classLabel(), controls, preview, init, variation(b));
        request = prompts(b, request);
        // the model's own check (sampler and schedule for its noise space, size multiples, classes...): the only
        // model-dependent validation; the worker relies on it
        List<FieldError> refused = p.check(request);
        if (!refused.isEmpty()) {
            throw ApiException.of(refused.get(0));
        }
        return new Submission(model, request, refs, b.initImage());
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

    /** Image-to-image: an uploaded init image and the strength (default 0.75, as diffusers' img2img). */
    private GenerationRequest.InitImage init(GenerationBody b) {
        if (b.initImage() == null) {
            if (b.strength() != null) {
                throw ApiException.invalid("strength", "strength applies to image-to-image: give init_image too");
            }
            return null;
        }
        var upload = uploads.get(b.initImage()).orElseThrow(() -> new ApiException(400, "unknown_upload",
                "unknown or expired upload '" + b.initImage() + "'; POST /v1/uploads first", "init_image"));
        double strength = b.strength() == null ? DEFAULT_STRENGTH : b.strength();
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
