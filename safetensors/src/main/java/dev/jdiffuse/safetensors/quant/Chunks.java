package dev.jdiffuse.safetensors.quant;

import java.util.stream.IntStream;

/** Runs an element-wise loop over {@code [0, n)} in chunks on the common pool when it is large enough to pay off. */
final class Chunks {

    /** Elements a task takes; smaller loops run on the calling thread. */
    static final int CHUNK = 1 << 18;

    interface Range {
        void run(int from, int to);
    }

    private Chunks() {
    }

    static void forEach(int n, Range body) {
        if (n <= CHUNK) {
            body.run(0, n);
            return;
        }
        IntStream.range(0, (n + CHUNK - 1) / CHUNK).parallel()
                .forEach(c -> body.run(c * CHUNK, Math.min(n, (c + 1) * CHUNK)));
    }
}
