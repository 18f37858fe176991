package dev.jdiffuse.server.cli;

import java.io.PrintWriter;

/** A one-line terminal progress bar with rate and ETA: {@code [#######.......] 7/14  3.1 it/s  ETA 2s}. */
final class ProgressBar {

    private static final int WIDTH = 30;

    private final PrintWriter out;
    private final long start = System.nanoTime();

    ProgressBar(PrintWriter out) {
        this.out = out;
    }

    void update(int done, int total) {
        double secs = (System.nanoTime() - start) / 1e9;
        double rate = done / Math.max(secs, 1e-9);
        int filled = (int) Math.round(WIDTH * (double) done / total);
        long eta = Math.round((total - done) / Math.max(rate, 1e-9));
        out.printf("\r[%s%s] %d/%d  %.2f it/s  ETA %ds ", "#".repeat(filled), ".".repeat(WIDTH - filled), done, total,
                rate, eta);
        out.flush();
    }

    void done() {
        out.println();
    }
}
