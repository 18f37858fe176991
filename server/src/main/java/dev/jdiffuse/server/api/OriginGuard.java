package dev.jdiffuse.server.api;

import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import dev.jdiffuse.server.web.ApiException;

import java.net.URI;
import java.util.Locale;
import java.util.Set;

/**
 * Cross-site and DNS-rebinding defence (reliability notes R4) for every request, reads and WebSocket upgrades
 * included: a browser's {@code Origin} must name this very host ({@code Origin: null} and
 * {@code Sec-Fetch-Site: cross-site} are refused, except a top-level navigation to a page, which the page's
 * {@code X-Frame-Options}/CSP keep unreadable to the other site), and while the server listens on loopback only, the
 * {@code Host} header must be a loopback name, so a rebinding domain's page cannot read anything. Clients that send no
 * {@code Origin} (curl, scripts) are not browsers and pass. Refusals are 403 {@code forbidden_origin}.
 */
public final class OriginGuard {

    private static final Set<String> LOOPBACK_NAMES = Set.of("localhost", "127.0.0.1", "[::1]", "::1");

    private final boolean loopbackOnly;

    public OriginGuard(String bindHost) {
        this.loopbackOnly = LOOPBACK_NAMES.contains(bindHost.toLowerCase(Locale.ROOT))
                || bindHost.startsWith("127.");
    }

    public void check(Context ctx) {
        String host = ctx.header("Host");
        if (loopbackOnly && host != null && !LOOPBACK_NAMES.contains(hostName(host))) {
            throw forbidden("Host " + host + " is not this server's loopback name");
        }
        String site = ctx.header("Sec-Fetch-Site");
        boolean navigation = "navigate".equalsIgnoreCase(ctx.header("Sec-Fetch-Mode"))
                && (ctx.method() == HandlerType.GET || ctx.method() == HandlerType.HEAD);
        if (site != null && site.equalsIgnoreCase("cross-site") && !navigation) {
            throw forbidden("cross-site requests are refused");
        }
        String origin = ctx.header("Origin");
        if (origin == null) {
            return;
        }
        if (origin.equals("null") || host == null) {
            throw forbidden("requests from an opaque origin are refused");
        }
        try {
            URI o = URI.create(origin);
            String authority = o.getRawAuthority();
            if (authority == null || !authority.equalsIgnoreCase(host)) {
                throw forbidden("Origin " + origin + " is not this server");
            }
        } catch (IllegalArgumentException e) {
            throw forbidden("malformed Origin");
        }
    }

    /** The host part of a Host header value, without the port, lower case. */
    static String hostName(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        if (h.startsWith("[")) {
            int end = h.indexOf(']');
            return end > 0 ? h.substring(0, end + 1) : h;
        }
        int colon = h.lastIndexOf(':');
        return colon > 0 ? h.substring(0, colon) : h;
    }

    private static ApiException forbidden(String message) {
        return new ApiException(403, "forbidden_origin", message, null);
    }
}
