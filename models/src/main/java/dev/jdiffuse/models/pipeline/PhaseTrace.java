package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.function.LongSupplier;

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
    private static final Recorder RECORDER =
            new Recorder(ON, ON && Boolean.getBoolean("jdiffuse.trace.phases.sync"), System.err, System::nanoTime);

    private PhaseTrace() {
    }

    /** Starts this thread's run (a run already started is dropped). */
    public static void begin() {
        if (ON) {
            RECORDER.begin();
        }
    }

    /** The host time since the previous mark, as {@code phase}; nothing when no run was begun on this thread. */
    public static void mark(String phase) {
        if (ON) {
            RECORDER.mark(phase, null);
        }
    }

    /** As {@link #mark(String)}; when syncing, after the device has finished {@code done} (null: no wait). */
    public static void mark(String phase, NDArray done) {
        if (ON) {
            RECORDER.mark(phase, done);
        }
    }

    /** Prints this thread's run with {@code label} (e.g. the job's id) and forgets it. */
    public static void end(String label) {
        if (ON) {
            RECORDER.end(label);
        }
    }

    /** The trace's state and output, apart from the JVM's flags so that a test can make one. */
    static final class Recorder {
        private final boolean on;
        private final boolean sync;
        private final PrintStream out;
        private final LongSupplier nanos;
        private final ThreadLocal<Marks> marks = new ThreadLocal<>();

        Recorder(boolean on, boolean sync, PrintStream out, LongSupplier nanos) {
            this.on = on;
            this.sync = on && sync;
            this.out = out;
            this.nanos = nanos;
        }

        void begin() {
            if (on) {
                marks.set(new Marks(nanos.getAsLong()));
            }
        }

        void mark(String phase, NDArray done) {
            Marks m = on ? marks.get() : null;
            if (m == null) {
                return;
            }
            if (sync && done != null) {
                done.sum().toType(DataType.FLOAT32, false).getFloat(); // waits for the device
            }
            long now = nanos.getAsLong();
            String key = phase;
            for (int n = 2; m.phases.containsKey(key); n++) {
                key = phase + "_" + n;
            }
            m.phases.put(key, (now - m.last) / 1e6);
            m.last = now;
        }

        void end(String label) {
            Marks m = on ? marks.get() : null;
            marks.remove();
            if (m == null) {
                return;
            }
            StringBuilder ms = new StringBuilder();
            m.phases.forEach((k, v) -> ms.append(ms.length() > 0 ? "," : "").append('"').append(k).append("\":")
                    .append(String.format(Locale.ROOT, "%.2f", v)));
            out.printf(Locale.ROOT, "{\"trace\":\"phases\",\"label\":\"%s\",\"synced\":%b,\"ms\":{%s}}%n",
                    label, sync, ms);
        }
    }

    /** Phase to milliseconds, in mark order; a phase marked again (the hires fix samples twice) gets _2, _3, ... */
    private static final class Marks {
        final LinkedHashMap<String, Double> phases = new LinkedHashMap<>();
        long last;

        Marks(long start) {
            last = start;
        }
    }
}
