package dev.jdiffuse.server.web;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.handler.ErrorHandler;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Jetty's own error responses (requests it refuses before the API sees them: a malformed request line, an ambiguous
 * URI, headers too large, an exception that escaped a handler) in the API's JSON shape {@code {"error":{...}}},
 * never Jetty's HTML page and never a stack trace. The message is Jetty's reason phrase only, never the exception.
 */
public final class JsonErrorHandler extends ErrorHandler {

    public JsonErrorHandler() {
        setShowStacks(false);
        setShowServlet(false);
        setShowMessageInTitle(false);
    }

    @Override
    public boolean errorPageForMethod(String method) {
        return true;
    }

    @Override
    protected void generateAcceptableResponse(Request baseRequest, HttpServletRequest request,
            HttpServletResponse response, int code, String message) throws IOException {
        byte[] body = body(code);
        response.setContentType("application/json");
        SecurityHeaders.apply(response::setHeader);
        response.setHeader("Cache-Control", "no-store");
        response.setContentLength(body.length);
        response.getOutputStream().write(body);
        baseRequest.setHandled(true);
    }

    @Override
    public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
        fields.put(HttpHeader.CONTENT_TYPE, "application/json");
        SecurityHeaders.apply(fields::put);
        return ByteBuffer.wrap(body(status));
    }

    /** {@code {"error":{"code":"bad_request","message":"Bad Request","field":null}}} for the status. */
    static byte[] body(int status) {
        String reason = HttpStatus.getMessage(status);
        String code = switch (status) {
            case 400 -> "bad_request";
            case 404 -> "not_found";
            case 405 -> "method_not_allowed";
            case 413 -> "too_large";
            case 414 -> "uri_too_long";
            case 431 -> "headers_too_large";
            case 500 -> "internal";
            default -> "http_" + status;
        };
        String text = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + reason.replaceAll("[\"\\\\]", "")
                + "\",\"field\":null}}";
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
