package dev.jdiffuse.server.sdapi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import dev.jdiffuse.server.api.GenerationBody;
import dev.jdiffuse.server.images.A1111LevelDrop;

import java.util.Locale;
import java.util.Map;

/**
 * An A1111 request as native {@link GenerationBody}s, one per image: A1111 seeds image {@code i} of a request with
 * {@code seed + i} (and {@code subseed + i}), which the native API reproduces as a batch-of-one job per image, so
 * every image is reproducible from its own seed by either API. What the native API lacks is refused here (422 naming
 * the A1111 field); what cannot change the pixels is ignored (see {@code docs/api.md}, "AUTOMATIC1111
 * compatibility").
 */
final class SdApiMapping {

    /** A1111's latent upscalers and this server's pixel one, by their A1111 names. */
    static final Map<String, String> UPSCALERS = Map.of("latent", "latent", "latent (bilinear)", "latent",
            "latent (nearest)", "latent-nearest", "latent-nearest", "latent-nearest", "bicubic", "bicubic");

    /** Most {@code n_iter}: A1111's UI slider goes to 100. */
    static final int MAX_ITER = 100;
    /** A1111's random seeds lie in [0, 4294967294) ({@code processing.get_fixed_seed}). */
    static final long SEED_BOUND = 4294967294L;

    /** The request's settings resolved once for all its images. */
    record Plan(GenerationBody template, long seed, Long subseed, int batchSize, int iterations, String model,
            String guidanceField, boolean flux) {

        int images() {
            return batchSize * iterations;
        }

        /** Image {@code i}'s body: the template with {@code seed + i} (and {@code subseed + i}). */
        GenerationBody image(int i) {
            return template.forImage(seed + i, subseed == null ? null : subseed + i);
        }
    }

    private SdApiMapping() {
    }

    /**
     * Refuses what would change the result but is not available here: scripts ({@code script_name},
     * {@code alwayson_scripts}), face restoration, tiling, a refiner, img2img resize modes other than 0.
     */
    static void refuseUnsupported(A1111Request r) {
        String script = r.str("script_name");
        if (script != null && !script.isBlank() && !script.equalsIgnoreCase("none")) {
            throw SdApiError.invalid("script_name", "scripts are not supported by jdiffuse");
        }
        JsonNode always = r.node("alwayson_scripts");
        if (always.isObject() && always.size() > 0) {
            String name = always.fieldNames().next();
            throw SdApiError.invalid("alwayson_scripts." + name, "always-on scripts (extensions such as "
                    + "ControlNet) are not supported by jdiffuse's A1111 API; use the native API's controlnets");
        }
        if (r.bool("restore_faces")) {
            throw SdApiError.invalid("restore_faces", "face restoration is not supported by jdiffuse");
        }
        if (r.bool("tiling")) {
            throw SdApiError.invalid("tiling", "tiling (seamless images) is not supported by jdiffuse");
        }
        String refiner = r.str("refiner_checkpoint");
        if (refiner != null && !refiner.isBlank() && !refiner.equalsIgnoreCase("none")) {
            throw SdApiError.invalid("refiner_checkpoint", "a refiner switch is not supported by jdiffuse");
        }
        if (r.img2img && r.integer("resize_mode") != 0) {
            throw SdApiError.invalid("resize_mode", "only resize_mode 0 (just resize) is supported, got "
                    + r.integer("resize_mode"));
        }
    }

    /**
     * The plan for {@code r} against {@code model} (its space and size multiple); {@code initImage} and
     * {@code mask} are upload ids (img2img) or null.
     */
    static Plan plan(A1111Request r, String model, NoiseSpace space, int sizeMultiple, boolean flux, int clipSkip,
            int maxBatch, String initImage, String mask, java.util.random.RandomGenerator random) {
        long batch = r.integer("batch_size");
        if (batch < 1 || batch > maxBatch) {
            throw SdApiError.invalid("batch_size", "batch_size must be 1.." + maxBatch + ", got " + batch);
        }
        long iter = r.integer("n_iter");
        if (iter < 1 || iter > MAX_ITER) {
            throw SdApiError.invalid("n_iter", "n_iter must be 1.." + MAX_ITER + ", got " + iter);
        }
        long seed = seed(r.integer("seed"), "seed", random);
        double subStrength = r.number("subseed_strength");
        Long subseed = null;
        if (subStrength != 0) {
            subseed = seed(r.integer("subseed"), "subseed", random);
        }
        boolean byName = r.str("sampler_name") != null && !r.str("sampler_name").isBlank();
        String samplerName = byName ? r.str("sampler_name") : r.str("sampler_index");
        A1111Samplers.Choice choice = A1111Samplers.resolve(samplerName == null ? "Euler" : samplerName,
                byName ? "sampler_name" : "sampler_index", r.str("scheduler"), space);
        boolean discard = choice.discardPenultimateSigma() || alwaysDiscard(r, choice.sampler());
        // FLUX (Forge): the distilled guidance is the model's guidance input. A client that knows FLUX (it sends
        // distilled_cfg_scale) means cfg_scale as Forge reads it: above 1, real CFG against the negative prompt
        // (true_cfg_scale). Other clients send A1111's cfg_scale (7 by default) for a CFG the distilled model does not
        // need, so without distilled_cfg_scale it is ignored and the negative prompt dropped
        boolean fluxAware = flux && r.given("distilled_cfg_scale");
        // (an if, not nested ?: over double and null, which unboxes null: a FLUX request without
        // distilled_cfg_scale answered 500 before)
        Double guidance = null;
        if (!flux) {
            guidance = r.number("cfg_scale");
        } else if (fluxAware) {
            guidance = r.number("distilled_cfg_scale");
        }
        Double trueCfg = null;
        if (fluxAware && r.given("cfg_scale") && r.number("cfg_scale") > 1) {
            trueCfg = r.number("cfg_scale");
        }
        String negative = flux && trueCfg == null ? null : r.str("negative_prompt");
        GenerationBody.HiresBody hires = r.img2img || !r.bool("enable_hr") ? null : hires(r, sizeMultiple);
        Double strength = null;
        Integer blur = null;
        Boolean fullRes = null;
        Integer padding = null;
        Boolean pasteBack = null;
        if (initImage != null) {
            strength = r.number("denoising_strength");
            if (mask != null) {
                // A1111 pastes the result over the original through the blurred mask (processing's overlay
                // images) whether or not only the masked area was redrawn
                blur = r.given("mask_blur") ? (int) r.integer("mask_blur") : (int) r.integer("mask_blur_x");
                fullRes = r.bool("inpaint_full_res");
                padding = (int) r.integer("inpaint_full_res_padding");
                pasteBack = true;
            }
        }
        JsonNode skipNode = r.override("CLIP_stop_at_last_layers");
        int skip = clipSkip;
        if (skipNode != null) {
            if (!skipNode.canConvertToExactIntegral()) {
                throw SdApiError.type("override_settings.CLIP_stop_at_last_layers", "integer");
            }
            skip = skipNode.asInt();
        }
        GenerationBody template = new GenerationBody(model, r.str("prompt"), negative,
                (int) r.integer("width"), (int) r.integer("height"), (int) r.integer("steps"), choice.sampler(),
                choice.schedule(), guidance, null, seed, 1, null, null, null, initImage, strength, null,
                subseed == null ? null : subStrength, mask, blur, fullRes, padding, pasteBack, null, hires, null,
                skip == 1 ? null : skip, null, null, null, trueCfg, discard ? Boolean.TRUE : null, null, null);
        return new Plan(template, seed, subseed, (int) batch, (int) iter, model,
                flux ? "distilled_cfg_scale" : "cfg_scale", flux);
    }

    /**
     * A1111's timestep samplers ({@code modules/sd_samplers_timesteps.py}: DDIM, PLMS, UniPC; the native UniPC bh1
     * answers to "UniPC bh1" here and is a UniPC).
     */
    private static final java.util.Set<String> TIMESTEP_SAMPLERS = java.util.Set.of("ddim", "pndm", "unipc",
            "unipc_bh1");

    /**
     * Whether {@code override_settings} asks for A1111's {@code always_discard_next_to_last_sigma} (a JSON boolean,
     * else 422 in pydantic's shape naming {@code override_settings.always_discard_next_to_last_sigma}): its
     * {@code get_sigmas} then drops the next-to-last level for every k-diffusion sampler. Its timestep samplers read
     * the setting as one step more and drop nothing ({@code CompVisSampler.get_timesteps}, whose
     * {@code range(0, 1000, 1000 // steps)} need not even give {@code steps + 1} timesteps): true is refused for them
     * (422 naming the setting) rather than run differently.
     *
     * @param sampler the native sampler the request resolved to
     */
    private static boolean alwaysDiscard(A1111Request r, String sampler) {
        String field = "override_settings." + A1111LevelDrop.SETTING;
        JsonNode v = r.override(A1111LevelDrop.SETTING);
        if (v == null) {
            return false;
        }
        if (!v.isBoolean()) {
            throw SdApiError.type(field, "bool");
        }
        if (v.booleanValue() && TIMESTEP_SAMPLERS.contains(sampler)) {
            throw SdApiError.invalid(field, "A1111 runs DDIM, PLMS and UniPC with more timesteps under this setting "
                    + "and drops none, which is not reproduced here; leave it false for them");
        }
        return v.booleanValue();
    }

    private static long seed(long given, String field, java.util.random.RandomGenerator random) {
        if (given == -1) {
            return random.nextLong(SEED_BOUND);
        }
        if (given < 0) {
            throw SdApiError.invalid(field, field + " must be >= 0 or -1 (random), got " + given);
        }
        return given;
    }

    /**
     * {@code enable_hr}: {@code hr_resize_x}/{@code hr_resize_y} (one of them 0: kept to the aspect ratio, as A1111
     * does, floored to the model's multiple) or {@code hr_scale}; {@code hr_second_pass_steps};
     * {@code denoising_strength}; {@code hr_upscaler} (A1111's "Latent", "Latent (nearest)", or "Bicubic").
     */
    private static GenerationBody.HiresBody hires(A1111Request r, int unit) {
        String up = r.str("hr_upscaler");
        String upscaler = up == null || up.isBlank() ? "latent" : UPSCALERS.get(up.trim().toLowerCase(Locale.ROOT));
        if (upscaler == null) {
            throw SdApiError.invalid("hr_upscaler", "hr_upscaler must be one of Latent, Latent (nearest), Bicubic; "
                    + "got '" + up + "'");
        }
        long x = r.integer("hr_resize_x");
        long y = r.integer("hr_resize_y");
        Integer w = null;
        Integer h = null;
        Double scale = null;
        if (x != 0 || y != 0) {
            long width = r.integer("width");
            long height = r.integer("height");
            if (width <= 0 || height <= 0) {
                throw SdApiError.invalid(width <= 0 ? "width" : "height", "width and height must be positive");
            }
            if (x < 0 || y < 0) {
                throw SdApiError.invalid(x < 0 ? "hr_resize_x" : "hr_resize_y", "must be >= 0");
            }
            if (x == 0) {
                x = y * width / height / unit * unit;
            } else if (y == 0) {
                y = x * height / width / unit * unit;
            }
            w = (int) x;
            h = (int) y;
        } else {
            scale = r.number("hr_scale");
        }
        int steps = (int) r.integer("hr_second_pass_steps");
        return new GenerationBody.HiresBody(scale, w, h, steps, r.number("denoising_strength"), upscaler);
    }
}
