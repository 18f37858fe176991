package dev.jdiffuse.server.auth;

import dev.jdiffuse.server.web.ApiException;
import io.javalin.http.Context;

import java.util.Optional;

/**
 * Who is calling: with {@code --api-keys}, every {@code /v1} route (except the OpenAPI document), the A1111
 * {@code /sdapi} routes, the ComfyUI routes (also under {@code /api}) and {@code /metrics} need a key, sent as {@code Authorization: Bearer KEY} (on {@code /sdapi}
 * also as the password of HTTP Basic, which A1111 clients send); a browser's WebSocket, which cannot send headers, passes it
 * as the query parameter {@code access_token} of the upgrade. The UI's files, {@code /healthz} and {@code /readyz}
 * are public (they hold nothing of anyone's). A missing or wrong key is 401 {@code unauthorized} with
 * {@code WWW-Authenticate: Bearer}. Without keys (loopback only) every caller is {@link Caller#ANONYMOUS}.
 */
public final class Authenticator {

    /** The request attribute holding the {@link Caller} (also seen by the WebSocket context after the upgrade). */
    public static final String ATTRIBUTE = "jdiffuse.caller";
    /** Who a connection without a recorded caller is when keys are in use: nobody, owner of nothing. */
    private static final Caller NOBODY = new Caller("", false, 0, 0, dev.jdiffuse.server.jobs.Priority.LOW);

    private final ApiKeys keys;

    /** @param keys the keys, or null when the server runs without authentication */
    public Authenticator(ApiKeys keys) {
        this.keys = keys;
    }

    public boolean enabled() {
        return keys != null;
    }

    /** Authenticates an HTTP request (or, with {@code websocket}, an upgrade) and records the caller on it. */
    public void check(Context ctx, boolean websocket) {
        Caller caller = Caller.ANONYMOUS;
        if (keys != null && protectedPath(ctx.path())) {
            String token = bearer(ctx.header("Authorization"));
            if (token == null && ctx.path().startsWith("/sdapi/")) {
                // A1111 clients send HTTP Basic (A1111's --api-auth): the key is the password, the user any name
                token = basicPassword(ctx.header("Authorization"));
            }
            if (token == null && websocket) {
                token = ctx.queryParam("access_token");
            }
            Optional<Caller> found = keys.authenticate(token);
            if (found.isEmpty()) {
                ctx.header("WWW-Authenticate", "Bearer realm=\"jdiffuse\"");
                throw new ApiException(401, "unauthorized", token == null
                        ? "this server needs an API key: send Authorization: Bearer KEY" : "unknown API key", null);
            }
            caller = found.get();
        }
        ctx.req().setAttribute(ATTRIBUTE, caller);
    }

    /** The caller {@link #check} recorded on this request (or its WebSocket upgrade). */
    public static Caller caller(Context ctx) {
        Object c = ctx.req().getAttribute(ATTRIBUTE);
        return c instanceof Caller caller ? caller : Caller.ANONYMOUS;
    }

    /** The caller of an attribute value recorded by {@link #check}; when none was recorded, nobody (with keys). */
    public Caller callerOf(Object attribute) {
        if (attribute instanceof Caller c) {
            return c;
        }
        return keys == null ? Caller.ANONYMOUS : NOBODY;
    }

    static boolean protectedPath(String path) {
        return (path.startsWith("/v1/") && !path.equals("/v1/openapi.json")) || path.startsWith("/sdapi/")
                || path.equals("/metrics") || comfyPath(path);
    }

    /** The ComfyUI routes ({@code dev.jdiffuse.server.comfy}), also under {@code /api}. */
    private static boolean comfyPath(String path) {
        String p = path.startsWith("/api/") ? path.substring(4) : path;
        for (String root : COMFY_ROOTS) {
            if (p.equals(root) || p.startsWith(root + "/")) {
                return true;
            }
        }
        return path.startsWith("/api/");
    }

    private static final java.util.List<String> COMFY_ROOTS = java.util.List.of("/prompt", "/queue", "/history",
            "/interrupt", "/object_info", "/system_stats", "/upload", "/view", "/models", "/embeddings", "/features",
            "/ws");

    /** The password of {@code Authorization: Basic base64(user:password)}, or null. */
    private static String basicPassword(String header) {
        if (header == null || !header.regionMatches(true, 0, "Basic ", 0, 6)) {
            return null;
        }
        try {
            String pair = new String(java.util.Base64.getDecoder().decode(header.substring(6).trim()),
                    java.nio.charset.StandardCharsets.UTF_8);
            int colon = pair.indexOf(':');
            return colon < 0 || colon == pair.length() - 1 ? null : pair.substring(colon + 1);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static String bearer(String header) {
        if (header == null || header.length() < 7 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        return header.substring(7).strip();
    }
}
