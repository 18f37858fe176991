package dev.jdiffuse.server.sdapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.web.ApiException;

import java.util.Map;

/**
 * An error of the AUTOMATIC1111 routes. The body carries both dialects: A1111's {@code detail} (FastAPI's shape: a
 * string, or for a type error pydantic's {@code [{loc:["body",field], msg, type}]}) so A1111 clients show it, and this
 * server's {@code error: {code, message, field}} naming the A1111 field at fault. The status is A1111's: 422 for a
 * value or type the request may not have, 404 for an unknown sampler, scheduler or model (A1111's "Sampler not
 * found"); quota, queue and budget refusals keep the native API's status (429, 503, 507).
 */
final class SdApiError extends RuntimeException {

    /** Native request fields as the A1111 request names them (for errors raised by the native validator). */
    private static final Map<String, String> FIELDS = Map.ofEntries(
            Map.entry("sampler", "sampler_name"), Map.entry("schedule", "scheduler"),
            Map.entry("guidance_scale", "cfg_scale"), Map.entry("init_image", "init_images[0]"),
            Map.entry("strength", "denoising_strength"), Map.entry("hires", "enable_hr"),
            Map.entry("hires.scale", "hr_scale"), Map.entry("hires.width", "hr_resize_x"),
            Map.entry("hires.height", "hr_resize_y"), Map.entry("hires.steps", "hr_second_pass_steps"),
            Map.entry("hires.strength", "denoising_strength"), Map.entry("hires.upscaler", "hr_upscaler"),
            Map.entry("clip_skip", "override_settings.CLIP_stop_at_last_layers"),
            Map.entry("model", "override_settings.sd_model_checkpoint"));

    private final int status;
    private final String code;
    private final String field;
    private final JsonNode detail;
    private final Long retryAfter;

    SdApiError(int status, String code, String message, String field, JsonNode detail, Long retryAfter) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
        this.field = field;
        this.detail = detail;
        this.retryAfter = retryAfter;
    }

    /** 422 for a value of {@code field} out of its range or not supported here. */
    static SdApiError invalid(String field, String message) {
        return new SdApiError(422, "invalid_value", message, field, text(field + ": " + message), null);
    }

    /** 422 in pydantic's shape for a value of the wrong type. */
    static SdApiError type(String field, String expected) {
        ObjectNode item = JsonNodeFactory.instance.objectNode();
        item.putArray("loc").add("body").add(field);
        item.put("msg", "value is not a valid " + expected);
        item.put("type", "type_error." + expected);
        var list = JsonNodeFactory.instance.arrayNode().add(item);
        return new SdApiError(422, "invalid_type", "field '" + field + "' must be " + expected, field, list, null);
    }

    /** 404 for a sampler, scheduler or model that does not exist, with A1111's text ("Sampler not found"). */
    static SdApiError notFound(String what, String field, String message) {
        return new SdApiError(404, "unknown_" + what.toLowerCase(java.util.Locale.ROOT), message, field,
                text(what + " not found"), null);
    }

    /**
     * A native refusal in A1111's dialect: 400 becomes 422 (A1111's validation status) and the field its A1111 name
     * (with {@code guidance} the field that set the guidance scale); other statuses stay.
     */
    static SdApiError of(ApiException e, String guidance) {
        return of(e.status(), e.body().error().code(), e.getMessage(), e.body().error().field(), guidance,
                e.retryAfterSeconds());
    }

    static SdApiError of(int status, String code, String message, String nativeField, String guidance,
            Long retryAfter) {
        String field = a1111Field(nativeField, guidance);
        int s = status == 400 ? 422 : status;
        String shown = field == null || message.startsWith(field) ? message : field + ": " + message;
        return new SdApiError(s, code, message, field, text(shown), retryAfter);
    }

    static String a1111Field(String nativeField, String guidance) {
        if (nativeField == null) {
            return null;
        }
        if (nativeField.equals("guidance_scale")) {
            return guidance;
        }
        return FIELDS.getOrDefault(nativeField, nativeField);
    }

    private static JsonNode text(String s) {
        return JsonNodeFactory.instance.textNode(s);
    }

    int status() {
        return status;
    }

    String field() {
        return field;
    }

    Long retryAfter() {
        return retryAfter;
    }

    /** {@code {"detail": ..., "error": {"code", "message", "field"}}}. */
    ObjectNode body() {
        ObjectNode b = JsonNodeFactory.instance.objectNode();
        b.set("detail", detail);
        ObjectNode e = b.putObject("error");
        e.put("code", code);
        e.put("message", getMessage());
        e.put("field", field);
        return b;
    }
}
