package dev.jdiffuse.server.web;

import java.util.function.BiConsumer;

/**
 * Browser hardening headers on every response, the API's and the UI's alike: no content sniffing, no framing
 * (clickjacking), and a content security policy that lets the UI load only its own scripts, styles and images and
 * talk only to its own origin (blob: and data: for result images and previews).
 */
public final class SecurityHeaders {

    public static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; "
            + "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            + "form-action 'self'; frame-ancestors 'none'";

    private SecurityHeaders() {
    }

    public static void apply(BiConsumer<String, String> header) {
        header.accept("X-Content-Type-Options", "nosniff");
        header.accept("X-Frame-Options", "DENY");
        header.accept("Content-Security-Policy", CSP);
        header.accept("Referrer-Policy", "no-referrer");
    }
}
