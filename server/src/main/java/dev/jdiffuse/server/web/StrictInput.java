package dev.jdiffuse.server.web;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Strict checks of what a client sends before any of it is interpreted: the request path's %-escapes (exactly two hex
 * digits each, decoding to well-formed UTF-8, never to a path separator or a control character), the JSON media type, well-formed UTF-8 bodies (overlong forms,
 * surrogates and truncated sequences refused, as RFC 3629 requires) and decimal indices written in ASCII digits only.
 * Every refusal is a 400/404/415 {@link ApiException}.
 */
public final class StrictInput {

    /** A canonical non-negative decimal: "0" or ASCII digits without a leading zero, sign or other script's digits. */
    private static final Pattern INDEX = Pattern.compile("0|[1-9][0-9]{0,8}");

    private StrictInput() {
    }

    /** Refuses a raw (still %-encoded) request path with a malformed escape or one decoding to invalid UTF-8. */
    public static void path(String rawPath) {
        if (rawPath == null || rawPath.indexOf('%') < 0) {
            return;
        }
        ByteBuffer bytes = ByteBuffer.allocate(rawPath.length());
        for (int i = 0; i < rawPath.length(); i++) {
            char c = rawPath.charAt(i);
            if (c == '%') {
                if (i + 2 >= rawPath.length() || Character.digit(rawPath.charAt(i + 1), 16) < 0
                        || Character.digit(rawPath.charAt(i + 2), 16) < 0 || !ascii(rawPath.charAt(i + 1))
                        || !ascii(rawPath.charAt(i + 2))) {
                    throw new ApiException(400, "bad_request", "the request path has a malformed %-escape", null);
                }
                int b = Integer.parseInt(rawPath.substring(i + 1, i + 3), 16);
                if (b == '/' || b == '\\' || b < 0x20 || b == 0x7f) {
                    // an encoded separator or control character names no resource here, and routers disagree
                    // on where it splits (Javalin's WebSocket path re-match fails on it)
                    throw new ApiException(400, "bad_request", "the request path encodes a separator or a control "
                            + "character", null);
                }
                bytes.put((byte) b);
                i += 2;
            } else if (c < 0x80) {
                bytes.put((byte) c);
            } else {
                throw new ApiException(400, "bad_request", "the request path is not ASCII", null);
            }
        }
        if (!utf8(bytes.flip())) {
            throw new ApiException(400, "bad_request", "the request path's escapes are not UTF-8", null);
        }
    }

    private static boolean ascii(char c) {
        return c < 0x80;
    }

    /** Accepts no Content-Type (scripts) or exactly {@code application/json}, with at most {@code charset=utf-8}. */
    public static void jsonMediaType(String contentType) {
        if (contentType == null) {
            return;
        }
        String[] parts = contentType.split(";");
        boolean ok = parts[0].trim().equalsIgnoreCase("application/json");
        for (int i = 1; ok && i < parts.length; i++) {
            String p = parts[i].trim().toLowerCase(Locale.ROOT).replace("\"", "");
            ok = p.equals("charset=utf-8") || p.isEmpty();
        }
        if (!ok) {
            throw new ApiException(415, "unsupported_media_type", "send the body as application/json (UTF-8)",
                    null);
        }
    }

    /** Refuses a body that is not well-formed UTF-8. */
    public static void utf8Body(byte[] body) {
        if (!utf8(ByteBuffer.wrap(body))) {
            throw new ApiException(400, "malformed_json", "the request body is not well-formed UTF-8", null);
        }
    }

    private static boolean utf8(ByteBuffer bytes) {
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes);
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    /** The index a path segment names, or -1 unless it is a canonical ASCII decimal. */
    public static int index(String segment) {
        return segment != null && INDEX.matcher(segment).matches() ? Integer.parseInt(segment) : -1;
    }
}
