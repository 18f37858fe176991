package dev.jdiffuse.safetensors.quant;

import java.util.stream.IntStream;

/** Runs a loop over {@code [0, n)} in ranges on the common pool when it is large enough to pay off. */
final class Chunks {

    /** Elements a task takes; smaller loops run on the calling thread. */
    static final int CHUNK = 1 << 18;

    interface Range {
        void run(int from, int to);
    }

    private Chunks() {
    }

    /** {@code body} over ranges of about {@link #CHUNK} elements. */
    static void forEach(int n, Range body) {
        forEach(n, 1, body);
    }

    /** {@code body} over ranges of {@code [0, units)}, each unit (a row, a block) {@code unitSize} elements. */
    static void forEach(int units, int unitSize, Range body) {
        long elements = (long) units * Math.max(1, unitSize);
        if (elements <= CHUNK || units < 2) {
            body.run(0, units);
            return;
        }
        int per = Math.max(1, (int) (CHUNK / Math.max(1, unitSize)));
        IntStream.range(0, (units + per - 1) / per).parallel()
                .forEach(c -> body.run(c * per, Math.min(units, (c + 1) * per)));
    }
}
