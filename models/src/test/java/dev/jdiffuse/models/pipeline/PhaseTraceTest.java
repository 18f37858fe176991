package dev.jdiffuse.models.pipeline;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The phase trace's JSON line: host time between marks, repeated phases numbered, runs kept per thread. */
class PhaseTraceTest {

    private final ByteArrayOutputStream printed = new ByteArrayOutputStream();
    private final AtomicLong clock = new AtomicLong(1_000_000_000L);

    private PhaseTrace.Recorder recorder(boolean on) {
        return new PhaseTrace.Recorder(on, false, new PrintStream(printed, true, StandardCharsets.UTF_8), clock::get);
    }

    private void advanceMs(double ms) {
        clock.addAndGet(Math.round(ms * 1e6));
    }

    private String printed() {
        return printed.toString(StandardCharsets.UTF_8);
    }

    @Test
    void aRunPrintsEachPhasesTimeSinceTheMarkBeforeItAndNumbersARepeatedPhase() {
        PhaseTrace.Recorder trace = recorder(true);
        trace.begin();
        advanceMs(1.5);
        trace.mark("encode", null);
        advanceMs(20);
        trace.mark("denoise", null);
        advanceMs(0.25);
        trace.mark("denoise", null); // the hires fix's second pass
        advanceMs(3);
        trace.mark("decode", null);
        trace.end("job-1");
        assertEquals("{\"trace\":\"phases\",\"label\":\"job-1\",\"synced\":false,"
                + "\"ms\":{\"encode\":1.50,\"denoise\":20.00,\"denoise_2\":0.25,\"decode\":3.00}}\n", printed());
    }

    @Test
    void marksWithoutABegunRunAndAnEndedRunPrintNothing() throws InterruptedException {
        PhaseTrace.Recorder trace = recorder(true);
        trace.mark("orphan", null);
        trace.end("never-begun");
        assertEquals("", printed());

        trace.begin();
        Thread other = new Thread(() -> {
            trace.mark("elsewhere", null); // another thread's marks are not this run's
            trace.end("other-thread");
        });
        other.start();
        other.join();
        advanceMs(2);
        trace.mark("mine", null);
        trace.end("this-thread");
        trace.end("again"); // ended: forgotten
        assertEquals("{\"trace\":\"phases\",\"label\":\"this-thread\",\"synced\":false,\"ms\":{\"mine\":2.00}}\n",
                printed());
    }

    @Test
    void offRecordsNothing() {
        PhaseTrace.Recorder trace = recorder(false);
        trace.begin();
        trace.mark("encode", null);
        trace.end("job");
        assertEquals("", printed());
    }
}
