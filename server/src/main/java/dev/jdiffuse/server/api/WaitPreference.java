package dev.jdiffuse.server.api;

import dev.jdiffuse.server.web.ApiException;

import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * How long a request may be held until its job ends, instead of the client polling: the query {@code ?wait=S} (a
 * client's explicit ask: malformed is a 400 naming {@code wait}) or the header {@code Prefer: wait=S} (RFC 7240
 * section 4.3, as Replicate's API takes it: a hint, so a malformed one is ignored). Seconds, at most
 * {@link #MAX_SECONDS}; longer asks are held that long (the answer says how long in {@code Preference-Applied}).
 */
public record WaitPreference(Duration hold) {

    /** The longest hold: under the idle timeouts of common proxies (60 s), so a held request is not cut. */
    public static final int MAX_SECONDS = 55;

    /** A whole number of seconds, as {@code Prefer: wait} gives it (RFC 7240 section 4.3: delta-seconds). */
    private static final Pattern WHOLE_SECONDS = Pattern.compile("\\d+");
    private static final Pattern SECONDS = Pattern.compile("\\d+(\\.\\d{1,3})?");

    /** The hold {@code query} (the raw {@code wait} parameter, or null) and {@code preferHeaders} ask; null: none. */
    public static WaitPreference of(String query, List<String> preferHeaders) {
        if (query != null) {
            if (!SECONDS.matcher(query).matches()) {
                throw ApiException.invalid("wait", "wait must be a number of seconds with at most 3 decimals (held "
                        + "at most " + MAX_SECONDS + " s)");
            }
            return holding(new java.math.BigDecimal(query));
        }
        for (String header : preferHeaders) {
            String seconds = PreferHeader.value(header, "wait");
            if (seconds != null) {
                return WHOLE_SECONDS.matcher(seconds).matches() ? holding(new java.math.BigDecimal(seconds)) : null;
            }
        }
        return null;
    }

    private static WaitPreference holding(java.math.BigDecimal seconds) {
        if (seconds.signum() <= 0) {
            return null;
        }
        java.math.BigDecimal capped = seconds.min(java.math.BigDecimal.valueOf(MAX_SECONDS));
        return new WaitPreference(Duration.ofMillis(capped.movePointRight(3).longValue()));
    }

    /** The {@code Preference-Applied} value: the hold in whole seconds (rounded up). */
    public String applied() {
        return "wait=" + (hold.toMillis() + 999) / 1000;
    }
}
