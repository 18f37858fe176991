package dev.jdiffuse.server.jobs;

import java.util.ArrayDeque;

/**
 * How fast the queue drains, measured: the times of the last {@value #WINDOW} job ends (on the monotonic clock).
 * The mean interval between them is how long until the next queue slot frees, which is what {@code Retry-After}
 * tells a refused client; before two ends are seen, the fallback (an estimate of one run) is used.
 */
final class DrainRate {

    static final int WINDOW = 32;

    private final ArrayDeque<Long> ends = new ArrayDeque<>();

    synchronized void ended(long nanos) {
        ends.addLast(nanos);
        while (ends.size() > WINDOW) {
            ends.pollFirst();
        }
    }

    /**
     * Seconds until {@code slots} queue slots free (at least 1, at most an hour). Ends older than ten mean intervals
     * say nothing about the present (the server was idle), so a run's estimate is used then.
     */
    synchronized long secondsFor(int slots, double fallbackSeconds, long nowNanos) {
        double interval = fallbackSeconds;
        if (ends.size() >= 2) {
            double measured = (ends.peekLast() - ends.peekFirst()) / 1e9 / (ends.size() - 1);
            double idle = (nowNanos - ends.peekLast()) / 1e9;
            if (idle <= 10 * Math.max(measured, 0.1)) {
                interval = Math.max(measured, 1e-3);
            }
        }
        return Math.max(1, Math.min(3600, (long) Math.ceil(interval * Math.max(1, slots))));
    }
}
