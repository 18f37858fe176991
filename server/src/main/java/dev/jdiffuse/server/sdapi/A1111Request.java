package dev.jdiffuse.server.sdapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An A1111 {@code txt2img}/{@code img2img} body as A1111's pydantic model reads it ({@code modules/api/models.py}):
 * every field optional with {@code modules/processing.py}'s default, unknown keys ignored, values of the wrong type
 * refused (422 in pydantic's shape, naming the field) after pydantic v1's coercions (a numeric string or an integral
 * float for an int, "true"/1 for a bool). {@link #echo} is the request with the defaults filled, as A1111 answers it
 * in {@code parameters}.
 */
final class A1111Request {

    enum Type { STR, INT, NUM, BOOL, OBJ, LIST }

    private static final com.fasterxml.jackson.databind.ObjectMapper PLAIN =
            new com.fasterxml.jackson.databind.ObjectMapper();

    private static final Map<String, Object[]> TXT2IMG = new LinkedHashMap<>();
    private static final Map<String, Object[]> IMG2IMG = new LinkedHashMap<>();

    private static void common(Map<String, Object[]> m) {
        f(m, "prompt", Type.STR, ""); f(m, "negative_prompt", Type.STR, ""); f(m, "styles", Type.LIST, null);
        f(m, "seed", Type.INT, -1L); f(m, "subseed", Type.INT, -1L); f(m, "subseed_strength", Type.NUM, 0.0);
        f(m, "seed_resize_from_h", Type.INT, -1L); f(m, "seed_resize_from_w", Type.INT, -1L);
        f(m, "sampler_name", Type.STR, null); f(m, "scheduler", Type.STR, null);
        f(m, "batch_size", Type.INT, 1L); f(m, "n_iter", Type.INT, 1L); f(m, "steps", Type.INT, 50L);
        f(m, "cfg_scale", Type.NUM, 7.0); f(m, "distilled_cfg_scale", Type.NUM, 3.5);
        f(m, "width", Type.INT, 512L); f(m, "height", Type.INT, 512L);
        f(m, "restore_faces", Type.BOOL, null); f(m, "tiling", Type.BOOL, null);
        f(m, "do_not_save_samples", Type.BOOL, false); f(m, "do_not_save_grid", Type.BOOL, false);
        f(m, "eta", Type.NUM, null); f(m, "denoising_strength", Type.NUM, 0.75);
        f(m, "s_min_uncond", Type.NUM, null); f(m, "s_churn", Type.NUM, null); f(m, "s_tmax", Type.NUM, null);
        f(m, "s_tmin", Type.NUM, null); f(m, "s_noise", Type.NUM, null);
        f(m, "override_settings", Type.OBJ, Map.of()); f(m, "override_settings_restore_afterwards", Type.BOOL, true);
        f(m, "refiner_checkpoint", Type.STR, null); f(m, "refiner_switch_at", Type.NUM, null);
        f(m, "disable_extra_networks", Type.BOOL, false); f(m, "comments", Type.OBJ, null);
        f(m, "force_task_id", Type.STR, null);
        f(m, "sampler_index", Type.STR, "Euler"); f(m, "script_name", Type.STR, null);
        f(m, "script_args", Type.LIST, java.util.List.of()); f(m, "send_images", Type.BOOL, true);
        f(m, "save_images", Type.BOOL, false); f(m, "alwayson_scripts", Type.OBJ, Map.of());
        f(m, "infotext", Type.STR, null);
    }

    static {
        common(TXT2IMG);
        Map<String, Object[]> m = TXT2IMG;
        f(m, "firstpass_image", Type.STR, null);
        f(m, "enable_hr", Type.BOOL, false); f(m, "firstphase_width", Type.INT, 0L);
        f(m, "firstphase_height", Type.INT, 0L); f(m, "hr_scale", Type.NUM, 2.0); f(m, "hr_upscaler", Type.STR, null);
        f(m, "hr_second_pass_steps", Type.INT, 0L); f(m, "hr_resize_x", Type.INT, 0L);
        f(m, "hr_resize_y", Type.INT, 0L); f(m, "hr_checkpoint_name", Type.STR, null);
        f(m, "hr_sampler_name", Type.STR, null); f(m, "hr_scheduler", Type.STR, null);
        f(m, "hr_prompt", Type.STR, ""); f(m, "hr_negative_prompt", Type.STR, "");
        f(m, "hr_distilled_cfg", Type.NUM, 3.5);
        common(IMG2IMG);
        m = IMG2IMG;
        f(m, "init_images", Type.LIST, null); f(m, "resize_mode", Type.INT, 0L);
        f(m, "image_cfg_scale", Type.NUM, null); f(m, "mask", Type.STR, null);
        f(m, "mask_blur_x", Type.INT, 4L); f(m, "mask_blur_y", Type.INT, 4L); f(m, "mask_blur", Type.INT, null);
        f(m, "mask_round", Type.BOOL, true); f(m, "inpainting_fill", Type.INT, 0L);
        f(m, "inpaint_full_res", Type.BOOL, true); f(m, "inpaint_full_res_padding", Type.INT, 0L);
        f(m, "inpainting_mask_invert", Type.INT, 0L); f(m, "initial_noise_multiplier", Type.NUM, null);
        f(m, "latent_mask", Type.STR, null); f(m, "include_init_images", Type.BOOL, false);
    }

    private static void f(Map<String, Object[]> m, String name, Type type, Object def) {
        m.put(name, new Object[] {type, def});
    }

    private final ObjectNode values;
    private final ObjectNode given;
    final boolean img2img;

    private A1111Request(ObjectNode values, ObjectNode given, boolean img2img) {
        this.values = values;
        this.given = given;
        this.img2img = img2img;
    }

    /** Reads {@code body} (a JSON object) as the {@code txt2img} or {@code img2img} model reads it. */
    static A1111Request parse(JsonNode body, boolean img2img) {
        if (body == null || !body.isObject()) {
            throw new SdApiError(422, "malformed_json", "the request body must be a JSON object", null,
                    JsonNodeFactory.instance.textNode("the request body must be a JSON object"), null);
        }
        Map<String, Object[]> fields = img2img ? IMG2IMG : TXT2IMG;
        ObjectNode values = JsonNodeFactory.instance.objectNode();
        ObjectNode given = JsonNodeFactory.instance.objectNode();
        for (var e : fields.entrySet()) {
            String name = e.getKey();
            Type type = (Type) e.getValue()[0];
            JsonNode v = body.get(name);
            if (v == null || v.isNull()) {
                values.set(name, defaultNode(e.getValue()[1]));
            } else {
                JsonNode c = coerce(name, type, v);
                values.set(name, c);
                given.set(name, c);
            }
        }
        return new A1111Request(values, given, img2img);
    }

    private static JsonNode defaultNode(Object d) {
        return d == null ? JsonNodeFactory.instance.nullNode() : PLAIN.valueToTree(d);
    }

    /** pydantic v1's coercions for {@code int}, {@code float}, {@code bool}, {@code str}, dict and list fields. */
    private static JsonNode coerce(String name, Type type, JsonNode v) {
        var f = JsonNodeFactory.instance;
        switch (type) {
            case STR:
                if (v.isTextual()) {
                    return v;
                }
                if (v.isNumber()) {
                    return f.textNode(v.asText());
                }
                throw SdApiError.type(name, "str");
            case INT:
                try {
                    BigDecimal d = v.isNumber() ? v.decimalValue() : v.isTextual() ? new BigDecimal(v.asText().trim())
                            : null;
                    if (d != null && d.stripTrailingZeros().scale() <= 0) {
                        return f.numberNode(d.longValueExact());
                    }
                } catch (NumberFormatException | ArithmeticException e) {
                    // falls through to the type error
                }
                throw SdApiError.type(name, "integer");
            case NUM:
                try {
                    if (v.isNumber()) {
                        return f.numberNode(v.doubleValue());
                    }
                    if (v.isTextual()) {
                        double d = Double.parseDouble(v.asText().trim());
                        if (Double.isFinite(d)) {
                            return f.numberNode(d);
                        }
                    }
                } catch (NumberFormatException e) {
                    // falls through to the type error
                }
                throw SdApiError.type(name, "float");
            case BOOL:
                if (v.isBoolean()) {
                    return v;
                }
                if (v.isIntegralNumber() && (v.asLong() == 0 || v.asLong() == 1)) {
                    return f.booleanNode(v.asLong() == 1);
                }
                if (v.isTextual()) {
                    switch (v.asText().trim().toLowerCase(java.util.Locale.ROOT)) {
                        case "true", "1", "yes", "on", "t", "y" -> {
                            return f.booleanNode(true);
                        }
                        case "false", "0", "no", "off", "f", "n" -> {
                            return f.booleanNode(false);
                        }
                        default -> {
                        }
                    }
                }
                throw SdApiError.type(name, "bool");
            case OBJ:
                if (v.isObject()) {
                    return v;
                }
                throw SdApiError.type(name, "dict");
            default:
                if (v.isArray()) {
                    return v;
                }
                throw SdApiError.type(name, "list");
        }
    }

    /** The request with every default filled (A1111's {@code parameters}); images left out unless asked for. */
    ObjectNode echo() {
        ObjectNode e = values.deepCopy();
        if (img2img) {
            boolean include = bool("include_init_images");
            e.remove("include_init_images");
            if (!include) {
                e.putNull("init_images");
                e.putNull("mask");
            }
        }
        return e;
    }

    boolean given(String name) {
        return given.has(name);
    }

    JsonNode node(String name) {
        return values.path(name);
    }

    String str(String name) {
        JsonNode v = values.get(name);
        return v == null || v.isNull() ? null : v.asText();
    }

    long integer(String name) {
        return values.path(name).asLong();
    }

    double number(String name) {
        return values.path(name).asDouble();
    }

    boolean bool(String name) {
        return values.path(name).asBoolean(false);
    }

    /** {@code override_settings[key]}, or null. */
    JsonNode override(String key) {
        JsonNode v = values.path("override_settings").get(key);
        return v == null || v.isNull() ? null : v;
    }
}
