package dev.jdiffuse.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Numeric comparisons against reference outputs. Every check returns the measured error so tests can report it.
 */
public final class Close {

    private Close() {
    }

    /**
     * Element-wise relative check {@code |a - e| <= rtol * max(|e|, floor)} where {@code floor = 1e-3 * max|e|}
     * keeps values that cross zero from dominating. Returns the worst {@code |a - e| / max(|e|, floor)}.
     */
    public static double assertRelative(String what, double[] expected, double[] actual, double rtol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scale = maxAbs(expected);
        double floor = Math.max(1e-3 * scale, 1e-30);
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            if (!Double.isFinite(actual[i])) {
                fail(what + ": non-finite value " + actual[i] + " at " + i);
            }
            double err = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor);
            if (err > worst) {
                worst = err;
                worstAt = i;
            }
        }
        if (worst > rtol) {
            fail(String.format("%s: relative error %.3e > %.1e at index %d (expected %.9g, got %.9g)", what, worst,
                    rtol, worstAt, expected[worstAt], actual[worstAt]));
        }
        return worst;
    }

    /**
     * The fixtures README's model tolerance: {@code max|a - e| <= tol * max|e|}. Returns {@code max|a-e| / max|e|}.
     */
    public static double assertMaxAbsRelative(String what, double[] expected, double[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scale = maxAbs(expected);
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            if (!Double.isFinite(actual[i])) {
                fail(what + ": non-finite value " + actual[i] + " at " + i);
            }
            double d = Math.abs(actual[i] - expected[i]);
            if (d > worst) {
                worst = d;
                worstAt = i;
            }
        }
        double rel = worst / Math.max(scale, 1e-30);
        if (rel > tol) {
            fail(String.format("%s: max|diff| %.3e = %.3e x max|ref| (%.3e) > %.1e, at index %d (expected %.9g, got %.9g)",
                    what, worst, rel, scale, tol, worstAt, expected[worstAt], actual[worstAt]));
        }
        return rel;
    }

    /** The fixtures README's pipeline tolerance: {@code max|a - e| <= atol}. Returns {@code max|a - e|}. */
    public static double assertMaxAbs(String what, double[] expected, double[] actual, double atol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            if (!Double.isFinite(actual[i])) {
                fail(what + ": non-finite value " + actual[i] + " at " + i);
            }
            double d = Math.abs(actual[i] - expected[i]);
            if (d > worst) {
                worst = d;
                worstAt = i;
            }
        }
        if (worst > atol) {
            fail(String.format("%s: max|diff| %.3e > %.1e at index %d (expected %.9g, got %.9g)", what, worst, atol,
                    worstAt, expected[worstAt], actual[worstAt]));
        }
        return worst;
    }

    public static double maxAbs(double[] v) {
        double m = 0;
        for (double x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    public static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    /** Appends a line to {@code target/parity-report.txt} of the running module, so a build leaves a record. */
    public static void report(String line) {
        System.out.println("PARITY " + line);
        try {
            java.nio.file.Path p = java.nio.file.Paths.get("target", "parity-report.txt");
            java.nio.file.Files.createDirectories(p.getParent());
            java.nio.file.Files.writeString(p, line + System.lineSeparator(), java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
