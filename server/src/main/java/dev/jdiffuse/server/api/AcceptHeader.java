package dev.jdiffuse.server.api;

import java.util.Locale;

/** What an {@code Accept} header asks for first (RFC 9110 section 12.5.1: media ranges with {@code q} weights). */
final class AcceptHeader {

    private AcceptHeader() {
    }

    /**
     * Whether the range of highest weight (the first among equals) is {@code image/png} or {@code image/*}; absent,
     * {@code *}{@code /*} or JSON first: no (the API answers JSON).
     */
    static boolean prefersPng(String accept) {
        if (accept == null) {
            return false;
        }
        String best = null;
        double bestQ = 0;
        for (String range : accept.split(",")) {
            String[] parts = range.split(";");
            String type = parts[0].trim().toLowerCase(Locale.ROOT);
            double q = 1;
            for (int i = 1; i < parts.length; i++) {
                String p = parts[i].trim();
                if (p.startsWith("q=") || p.startsWith("Q=")) {
                    try {
                        q = Double.parseDouble(p.substring(2));
                    } catch (NumberFormatException e) {
                        q = 0;
                    }
                    if (!(q >= 0 && q <= 1)) {
                        q = 0; // a malformed weight (RFC 9110: 0 to 1): the range is not taken
                    }
                }
            }
            if (!type.isEmpty() && q > bestQ) {
                best = type;
                bestQ = q;
            }
        }
        return "image/png".equals(best) || "image/*".equals(best);
    }
}
