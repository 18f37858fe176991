package dev.jdiffuse.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.function.DoubleBinaryOperator;

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
        double floor = Math.max(1e-3 * maxAbs(expected), 1e-30);
        Worst w = worst(what, expected, actual, (e, a) -> Math.abs(a - e) / Math.max(Math.abs(e), floor));
        if (w.error > rtol) {
            fail(String.format("%s: relative error %.3e > %.1e at index %d (expected %.9g, got %.9g)", what, w.error,
                    rtol, w.at, expected[w.at], actual[w.at]));
        }
        return w.error;
    }

    /**
     * The fixtures README's model tolerance: {@code max|a - e| <= tol * max|e|}. Returns {@code max|a-e| / max|e|}.
     */
    public static double assertMaxAbsRelative(String what, double[] expected, double[] actual, double tol) {
        double scale = maxAbs(expected);
        Worst w = worst(what, expected, actual, (e, a) -> Math.abs(a - e));
        double rel = w.error / Math.max(scale, 1e-30);
        if (rel > tol) {
            fail(String.format("%s: max|diff| %.3e = %.3e x max|ref| (%.3e) > %.1e, at index %d (expected %.9g, got %.9g)",
                    what, w.error, rel, scale, tol, w.at, expected[w.at], actual[w.at]));
        }
        return rel;
    }

    /** The fixtures README's pipeline tolerance: {@code max|a - e| <= atol}. Returns {@code max|a - e|}. */
    public static double assertMaxAbs(String what, double[] expected, double[] actual, double atol) {
        Worst w = worst(what, expected, actual, (e, a) -> Math.abs(a - e));
        if (w.error > atol) {
            fail(String.format("%s: max|diff| %.3e > %.1e at index %d (expected %.9g, got %.9g)", what, w.error, atol,
                    w.at, expected[w.at], actual[w.at]));
        }
        return w.error;
    }

    /** The largest {@code error(expected[i], actual[i])} and its index (-1 if there are no elements). */
    private record Worst(double error, int at) {
    }

    /** Checks the lengths agree and every actual value is finite, then finds the largest error. */
    private static Worst worst(String what, double[] expected, double[] actual, DoubleBinaryOperator error) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            if (!Double.isFinite(actual[i])) {
                fail(what + ": non-finite value " + actual[i] + " at " + i);
            }
            double err = error.applyAsDouble(expected[i], actual[i]);
            if (err > worst) {
                worst = err;
                worstAt = i;
            }
        }
        return new Worst(worst, worstAt);
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
