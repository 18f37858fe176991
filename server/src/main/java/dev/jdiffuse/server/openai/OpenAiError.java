package dev.jdiffuse.server.openai;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.web.ApiException;

import java.util.Map;

/**
 * An error of the OpenAI Images route in OpenAI's shape, {@code {"error": {"message", "type", "param", "code"}}}:
 * {@code param} names the OpenAI request field at fault (the native validator's field translated: width and height
 * are {@code size}, the batch is {@code n}, an edit's init image is {@code image}), {@code type} is {@code invalid_request_error} for every 4xx (401 and
 * 429 included, as OpenAI answers them) and {@code server_error} for 5xx; {@code code} is the native error code.
 */
public final class OpenAiError extends RuntimeException {

    /** Native request fields as the OpenAI request names them (the init image is an edit's {@code image}). */
    private static final Map<String, String> PARAMS = Map.of("width", "size", "height", "size", "batch_size", "n",
            "init_image", "image");

    private final int status;
    private final String code;
    private final String param;
    private final Long retryAfter;

    OpenAiError(int status, String code, String message, String param, Long retryAfter) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
        this.param = param;
        this.retryAfter = retryAfter;
    }

    /** 400 for a value of {@code param} this route does not take. */
    static OpenAiError invalid(String param, String message) {
        return new OpenAiError(400, "invalid_value", message, param, null);
    }

    /** 400 for a required parameter left out, in OpenAI's words. */
    static OpenAiError missing(String param) {
        return new OpenAiError(400, "missing_required_parameter", "Missing required parameter: '" + param + "'.",
                param, null);
    }

    /** 400 for a value of the wrong JSON type. */
    static OpenAiError type(String param, String expected) {
        return new OpenAiError(400, "invalid_type", "'" + param + "' must be " + expected, param, null);
    }

    /**
     * A native refusal in OpenAI's shape: the status and code stay, the field becomes its OpenAI name
     * ({@code guidance} is the field that set the guidance scale: {@code guidance_scale} or {@code cfg_scale}).
     */
    public static OpenAiError of(ApiException e, String guidance) {
        String field = e.body().error().field();
        String param = field == null ? null : field.equals("guidance_scale") ? guidance
                : PARAMS.getOrDefault(field, field);
        return new OpenAiError(e.status(), e.body().error().code(), e.getMessage(), param, e.retryAfterSeconds());
    }

    public int status() {
        return status;
    }

    String param() {
        return param;
    }

    public Long retryAfter() {
        return retryAfter;
    }

    public ObjectNode body() {
        ObjectNode b = JsonNodeFactory.instance.objectNode();
        ObjectNode e = b.putObject("error");
        e.put("message", getMessage());
        e.put("type", status >= 500 ? "server_error" : "invalid_request_error");
        e.put("param", param);
        e.put("code", code);
        return b;
    }
}
