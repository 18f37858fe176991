package dev.jdiffuse.server.api;

import dev.jdiffuse.server.web.ApiException;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
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

    /** RFC 7240 section 2: {@code token [ BWS "=" BWS word ]}, preferences separated by commas. */
    private static final Pattern PREFER_WAIT =
            Pattern.compile("(?:^|,)\\s*wait\\s*=\\s*(?:\"(\\d+)\"|(\\d+))\\s*(?:;|,|$)");
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
            Matcher m = PREFER_WAIT.matcher(header.toLowerCase(Locale.ROOT));
            if (m.find()) {
                return holding(new java.math.BigDecimal(m.group(1) != null ? m.group(1) : m.group(2)));
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
