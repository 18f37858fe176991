package dev.jdiffuse.server;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads values out of the Prometheus exposition text that {@code /metrics} serves. */
final class MetricsText {

    private MetricsText() {
    }

    /**
     * The sum of the series of {@code metric} whose labels include {@code label} (such as {@code le="1.0"} or
     * {@code device="cpu#0"}; empty: every series); 0 when none.
     */
    static double sum(String text, String metric, String label) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(metric) + "(\\{[^}]*})? ([0-9.eE+-]+|NaN)$")
                .matcher(text);
        double total = 0;
        while (m.find()) {
            String labels = m.group(1) == null ? "" : m.group(1);
            if (labels.contains(label)) {
                total += Double.parseDouble(m.group(2));
            }
        }
        return total;
    }

    /** Whether the text has a series of {@code metric} whose labels include {@code label}. */
    static boolean has(String text, String metric, String label) {
        return text.lines().anyMatch(l -> l.startsWith(metric + "{") && l.substring(0, l.indexOf('}') + 1)
                .contains(label));
    }
}
