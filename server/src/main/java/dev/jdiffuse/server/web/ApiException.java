package dev.jdiffuse.server.web;

import dev.jdiffuse.models.pipeline.FieldError;

/**
 * An error answered to the client as {@code {"error":{"code","message","field"}}} with HTTP status {@code status}.
 * Messages are written for the client: they never carry stack traces, file paths or configuration.
 */
public final class ApiException extends RuntimeException {

    /** The request attribute that marks an error as answered (so the server's 404 page leaves the body alone). */
    public static final String RENDERED = "jdiffuse.api-error";

    private final int status;
    private final String code;
    private final String field;
    private final Long retryAfterSeconds;

    public ApiException(int status, String code, String message, String field) {
        this(status, code, message, field, null);
    }

    public ApiException(int status, String code, String message, String field, Long retryAfterSeconds) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
        this.field = field;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400 for a value out of its range; {@code field} is the JSON path, e.g. {@code controlnets[0].scale}. */
    public static ApiException invalid(String field, String message) {
        return new ApiException(400, "invalid_value", message, field);
    }

    /** 400 for a problem the model's own check found (unsupported sampler, size multiple, unknown ControlNet...). */
    public static ApiException of(FieldError e) {
        return new ApiException(400, e.code(), e.message(), e.field());
    }

    public static ApiException notFound(String code, String message) {
        return new ApiException(404, code, message, null);
    }

    public int status() {
        return status;
    }

    /** The response body {@code {"error":{"code","message","field"}}}; {@code field} is null when none is at fault. */
    public Body body() {
        return new Body(new Body.Detail(code, getMessage(), field));
    }

    /** Seconds a 429 or 503 asks the client to wait, or null. */
    public Long retryAfterSeconds() {
        return retryAfterSeconds;
    }

    /** The JSON error body every failing route answers with. */
    public record Body(Detail error) {

        public record Detail(String code, String message, String field) {
        }
    }
}
