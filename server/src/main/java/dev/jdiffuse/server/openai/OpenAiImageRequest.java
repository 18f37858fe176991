package dev.jdiffuse.server.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.api.GenerationBody;
import dev.jdiffuse.server.api.GenerationValidator;

import java.util.Locale;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.ToIntFunction;
import java.util.random.RandomGenerator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An OpenAI {@code POST /v1/images/generations} body read into the native {@link GenerationBody} of each image.
 * Image {@code i} is its own batch-of-one job with seed {@code seed + i}, as the A1111 layer does, so every image is
 * reproducible from its seed by the native API. OpenAI's fields that cannot change a diffusion result here
 * ({@code quality}, {@code style}, {@code moderation}, {@code user}, {@code output_compression}) are accepted and
 * ignored; what cannot be delivered (a transparent background, JPEG or WebP, streaming) is refused naming the field.
 * The jdiffuse extensions (as stable-diffusion.cpp and many self-hosted clients send them): {@code negative_prompt},
 * {@code seed}, {@code steps}, {@code guidance_scale} (alias {@code cfg_scale}), {@code sampler} and FLUX's
 * {@code true_cfg_scale}. An edit
 * ({@code POST /v1/images/edits}, {@link Edit}) is the same body over an init image (and mask), with
 * {@code strength} and {@code mask_blur} besides.
 *
 * @param template     image 0's body (seed {@code seed}); the others differ only in the seed
 * @param n            images to make, 1..10
 * @param seed         image 0's seed (drawn when the request gives none or -1)
 * @param url          whether images are answered as URLs of the native image route (else as {@code b64_json})
 * @param guidanceField the field that set the guidance scale, for errors about it
 */
record OpenAiImageRequest(GenerationBody template, int n, long seed, boolean url, String guidanceField) {

    /** OpenAI's limit on {@code n}. */
    static final int MAX_N = 10;
    private static final Pattern SIZE = Pattern.compile("(\\d{1,6})x(\\d{1,6})");
    /** OpenAI's model names (and prefixes of their dated versions): each means this server's default model. */
    private static final Set<String> OPENAI_MODELS = Set.of("dall-e-2", "dall-e-3", "gpt-image", "chatgpt-image");

    /**
     * What an edit adds to the body: the init image and the inpainting mask (upload ids; {@code mask} null for
     * image-to-image), the init image's size, and the size multiple of a model ({@code null}: the default model),
     * for {@code size: "auto"}.
     */
    record Edit(String image, int width, int height, String mask, ToIntFunction<String> sizeMultiple) {

        /** {@code auto}: the init image's size, each side rounded to the nearest multiple of the model's unit. */
        int[] autoSize(String model) {
            int unit = Math.max(1, sizeMultiple.applyAsInt(model));
            return new int[] {round(width, unit), round(height, unit)};
        }

        private static int round(int side, int unit) {
            return Math.max(unit, (int) Math.round((double) side / unit) * unit);
        }
    }

    /** Image {@code i}'s body: the template with seed {@code seed + i}. */
    GenerationBody image(int i) {
        return template.forImage(seed + i, template.subseed());
    }

    /**
     * Reads {@code body}; {@code knownModel} tells whether a name is one of this server's models (an OpenAI model
     * name or none means the default model: the native body's {@code model} left out).
     */
    static OpenAiImageRequest parse(JsonNode body, Predicate<String> knownModel, RandomGenerator random) {
        return parse(body, knownModel, random, null);
    }

    /**
     * Reads an edit's fields ({@code edit} non-null: its init image and mask, {@code size} absent or "auto" the init
     * image's size, {@code strength} and {@code mask_blur}; inpainting pastes the result back over the kept region,
     * as OpenAI's edits keep the unmasked pixels) or a generation's ({@code edit} null).
     */
    static OpenAiImageRequest parse(JsonNode body, Predicate<String> knownModel, RandomGenerator random, Edit edit) {
        if (body == null || !body.isObject()) {
            throw OpenAiError.type("body", "a JSON object");
        }
        JsonNode promptNode = body.get("prompt");
        if (promptNode == null || promptNode.isNull()) {
            throw OpenAiError.missing("prompt");
        }
        String prompt = string(body, "prompt");
        if (prompt.isBlank()) {
            throw OpenAiError.invalid("prompt", "'prompt' must not be empty");
        }
        String model = model(string(body, "model"), knownModel);
        int n = 1;
        JsonNode nNode = body.get("n");
        if (nNode != null && !nNode.isNull()) {
            if (!nNode.canConvertToExactIntegral() || !nNode.canConvertToInt()) {
                throw OpenAiError.type("n", "an integer");
            }
            n = nNode.asInt();
            if (n < 1 || n > MAX_N) {
                throw OpenAiError.invalid("n", "'n' must be 1.." + MAX_N + ", got " + n);
            }
        }
        Integer width = null;
        Integer height = null;
        String size = string(body, "size");
        if (size != null && !size.equalsIgnoreCase("auto")) {
            Matcher m = SIZE.matcher(size.trim().toLowerCase(Locale.ROOT));
            if (!m.matches()) {
                throw OpenAiError.invalid("size", "'size' must be \"WIDTHxHEIGHT\" (e.g. \"512x512\") or \"auto\", "
                        + "got '" + size + "'");
            }
            width = Integer.parseInt(m.group(1));
            height = Integer.parseInt(m.group(2));
        } else if (edit != null) {
            int[] auto = edit.autoSize(model);
            width = auto[0];
            height = auto[1];
        }
        boolean url = responseFormat(string(body, "response_format"), string(body, "model"));
        refuseUndeliverable(body);
        Double guidance = number(body, "guidance_scale");
        Double cfg = number(body, "cfg_scale");
        if (guidance != null && cfg != null && !guidance.equals(cfg)) {
            throw OpenAiError.invalid("cfg_scale", "give guidance_scale or its alias cfg_scale, not both");
        }
        String guidanceField = guidance == null && cfg != null ? "cfg_scale" : "guidance_scale";
        Long seedGiven = integer(body, "seed");
        long seed;
        if (seedGiven == null || seedGiven == -1) {
            seed = random.nextLong(GenerationValidator.RANDOM_SEED_BOUND);
        } else if (seedGiven < 0) {
            throw OpenAiError.invalid("seed", "'seed' must be >= 0 (or -1 for a random one), got " + seedGiven);
        } else {
            seed = seedGiven;
        }
        Long steps = integer(body, "steps");
        if (steps != null && (steps < Integer.MIN_VALUE || steps > Integer.MAX_VALUE)) {
            throw OpenAiError.invalid("steps", "'steps' is out of range: " + steps);
        }
        Double strength = edit == null ? null : number(body, "strength");
        Long blur = edit == null ? null : integer(body, "mask_blur");
        if (blur != null && (blur < 0 || blur > Integer.MAX_VALUE)) {
            throw OpenAiError.invalid("mask_blur", "'mask_blur' is out of range: " + blur);
        }
        String mask = edit == null ? null : edit.mask();
        GenerationBody template = new GenerationBody(model, prompt, string(body, "negative_prompt"), width, height,
                steps == null ? null : steps.intValue(), string(body, "sampler"), null,
                guidance != null ? guidance : cfg, null, seed, 1, null, null, null, edit == null ? null : edit.image(),
                strength, null, null, mask, blur == null ? null : blur.intValue(), null, null,
                mask == null ? null : Boolean.TRUE, null, null, null, null, null, null, null,
                number(body, "true_cfg_scale"), null, null, null);
        return new OpenAiImageRequest(template, n, seed, url, guidanceField);
    }

    /** The native model name, or null for the default model; 404 {@code model_not_found} for an unknown one. */
    private static String model(String given, Predicate<String> knownModel) {
        if (given == null || given.isBlank()) {
            return null;
        }
        String name = given.trim();
        if (knownModel.test(name)) {
            return name;
        }
        String lower = name.toLowerCase(Locale.ROOT);
        for (String openAi : OPENAI_MODELS) {
            if (lower.startsWith(openAi)) {
                return null;
            }
        }
        throw new OpenAiError(404, "model_not_found", "The model '" + given + "' does not exist; GET /v1/models "
                + "lists this server's models (OpenAI's names such as dall-e-3 or gpt-image-1 mean the default one)",
                "model", null);
    }

    /**
     * Whether images are answered as URLs: {@code b64_json} or {@code url}; without one, as OpenAI answers the model
     * named: URLs for {@code dall-e-2} and {@code dall-e-3} (their default: clients written for them, such as
     * LibreChat's DALL-E tool, read {@code data[0].url}), inline images otherwise (the GPT image models' only form).
     */
    private static boolean responseFormat(String format, String model) {
        if (format == null) {
            return model != null && model.trim().toLowerCase(Locale.ROOT).startsWith("dall-e");
        }
        if (format.equals("b64_json")) {
            return false;
        }
        if (format.equals("url")) {
            return true;
        }
        throw OpenAiError.invalid("response_format", "'response_format' must be 'b64_json' or 'url', got '"
                + format + "'");
    }

    /** A transparent background, JPEG or WebP, and streaming cannot be delivered: refused rather than ignored. */
    private static void refuseUndeliverable(JsonNode body) {
        String format = string(body, "output_format");
        if (format != null && !format.equalsIgnoreCase("png")) {
            throw OpenAiError.invalid("output_format", "jdiffuse makes PNG images only: 'output_format' must be "
                    + "'png', got '" + format + "'");
        }
        String background = string(body, "background");
        if (background != null && !background.equals("auto") && !background.equals("opaque")) {
            throw OpenAiError.invalid("background", "jdiffuse makes opaque images: 'background' must be 'auto' or "
                    + "'opaque', got '" + background + "'");
        }
        JsonNode stream = body.get("stream");
        if (stream != null && !stream.isNull()) {
            if (!stream.isBoolean()) {
                throw OpenAiError.type("stream", "a boolean");
            }
            if (stream.asBoolean()) {
                throw OpenAiError.invalid("stream", "streaming is not supported here; the native API streams "
                        + "progress and previews (GET /v1/generations/{id}/stream)");
            }
        }
        for (String ignored : new String[] {"quality", "style", "moderation", "user"}) {
            string(body, ignored); // ignored, but a value of the wrong type is still an error
        }
    }

    private static String string(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw OpenAiError.type(field, "a string");
        }
        return v.asText();
    }

    private static Double number(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isNumber()) {
            throw OpenAiError.type(field, "a number");
        }
        return v.asDouble();
    }

    private static Long integer(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.canConvertToExactIntegral() || !v.canConvertToLong()) {
            throw OpenAiError.type(field, "an integer");
        }
        return v.asLong();
    }
}
