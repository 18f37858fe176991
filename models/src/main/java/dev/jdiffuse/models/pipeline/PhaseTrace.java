package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import java.util.Locale;

/**
 * Where one run's time goes on the thread that runs it, for diagnosis: with {@code -Djdiffuse.trace.phases=true},
 * {@link #begin} starts a run's marks, each {@link #mark} records the host time since the previous mark, and
 * {@link #end} prints the run as one JSON line on stderr ({@code {"trace":"phases","label":..,"ms":{..}}}, beside
 * the forward trace's lines). With {@code -Djdiffuse.trace.phases.sync=true} a mark given an array first waits for
 * the device to finish it, so that the device's work lands in the phase that queued it (this serialises host and
 * device: for finding time, not for timing). Off (the default), every call is a test of a constant.
 *
 * <p>Written for issue 13's "nothing lost outside the denoiser": on the H100 the pipeline's run was 13-18 ms longer
 * than its encode, denoise and decode, which this splits.
 */
public final class PhaseTrace {

    public static final boolean ON = Boolean.getBoolean("jdiffuse.trace.phases");
    private static final boolean SYNC = ON && Boolean.getBoolean("jdiffuse.trace.phases.sync");
    private static final ThreadLocal<Marks> MARKS = new ThreadLocal<>();

    private PhaseTrace() {
    }

    /** Phase to milliseconds, in mark order; a phase marked again (the hires fix samples twice) gets _2, _3, ... */
    private static final class Marks {
        final java.util.LinkedHashMap<String, Double> phases = new java.util.LinkedHashMap<>();
        long last = System.nanoTime();
    }

    /** Starts this thread's run (a run already started is dropped). */
    public static void begin() {
        if (ON) {
            MARKS.set(new Marks());
        }
    }

    /** The host time since the previous mark, as {@code phase}; nothing when no run was begun on this thread. */
    public static void mark(String phase) {
        if (ON) {
            record(phase);
        }
    }

    /** As {@link #mark(String)}; when syncing, after the device has finished {@code done} (null: no wait). */
    public static void mark(String phase, NDArray done) {
        if (ON) {
            if (SYNC && done != null && MARKS.get() != null) {
                done.sum().toType(DataType.FLOAT32, false).getFloat(); // waits for the device
            }
            record(phase);
        }
    }

    private static void record(String phase) {
        Marks m = MARKS.get();
        if (m == null) {
            return;
        }
        long now = System.nanoTime();
        String key = phase;
        for (int n = 2; m.phases.containsKey(key); n++) {
            key = phase + "_" + n;
        }
        m.phases.put(key, (now - m.last) / 1e6);
        m.last = now;
    }

    /** Prints this thread's run with {@code label} (e.g. the job's id) and forgets it. */
    public static void end(String label) {
        if (!ON) {
            return;
        }
        Marks m = MARKS.get();
        MARKS.remove();
        if (m != null) {
            StringBuilder ms = new StringBuilder();
            m.phases.forEach((k, v) -> ms.append(ms.length() > 0 ? "," : "").append('"').append(k).append("\":")
                    .append(String.format(Locale.ROOT, "%.2f", v)));
            System.err.printf(Locale.ROOT, "{\"trace\":\"phases\",\"label\":\"%s\",\"synced\":%b,\"ms\":{%s}}%n",
                    label, SYNC, ms);
        }
    }
}
