package dev.jdiffuse.server.stream;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The per-client outbox's shedding policy, with a sender that completes only when told. */
class OutboxTest {

    /** Holds each write until {@link #complete()}. */
    static final class HeldSender implements FrameSender {
        final List<Frame> sent = new ArrayList<>();
        Runnable pending;
        int closedWith;

        @Override
        public void send(Frame frame, Runnable done, Consumer<Throwable> failed) {
            sent.add(frame);
            pending = done;
        }

        void complete() {
            Runnable r = pending;
            pending = null;
            r.run();
        }

        @Override
        public void close(int code, String reason) {
            closedWith = code;
        }
    }

    static Frame preview(String job, int size) {
        return Frame.binary(Frame.Kind.PREVIEW, job, "{}", new byte[size]);
    }

    @Test
    void newerPreviewOrProgressOfAJobReplacesTheQueuedOne() {
        HeldSender s = new HeldSender();
        Outbox o = new Outbox(s, 1 << 20, 100, Outbox.Observer.NONE);
        o.offer(Frame.text(Frame.Kind.DURABLE, "a", "{\"first\":1}"));
        o.offer(preview("a", 10));
        o.offer(preview("a", 20));
        o.offer(preview("b", 30));
        o.offer(Frame.text(Frame.Kind.PROGRESS, "a", "{\"step\":1}"));
        o.offer(Frame.text(Frame.Kind.PROGRESS, "a", "{\"step\":2}"));
        assertEquals(3, o.queuedFrames(), "latest preview of a, preview of b, latest progress of a");
        while (s.pending != null) {
            s.complete();
        }
        assertEquals(4, s.sent.size());
        assertEquals(4 + 2 + 20, s.sent.get(1).binary().length, "a's newer preview (length, header {}, 20 bytes)");
        assertEquals("{\"step\":2}", s.sent.get(3).text());
    }

    @Test
    void overTheCapPreviewsGoFirstThenProgressAndDurableFramesStay() {
        HeldSender s = new HeldSender();
        List<Frame.Kind> dropped = new ArrayList<>();
        Outbox o = new Outbox(s, 1000, 100, new Outbox.Observer() {
            @Override
            public void dropped(Frame.Kind kind) {
                dropped.add(kind);
            }
        });
        o.offer(Frame.text(Frame.Kind.DURABLE, "x", "{}"));
        for (int i = 0; i < 10; i++) {
            o.offer(preview("job" + i, 300));
        }
        assertTrue(o.queuedBytes() <= 1000);
        assertTrue(dropped.stream().allMatch(k -> k == Frame.Kind.PREVIEW) && dropped.size() >= 7);
        o.offer(Frame.text(Frame.Kind.DURABLE, "x", "{\"final\":true}"));
        assertFalse(o.isClosed());
        assertTrue(o.queuedBytes() <= 1000);
    }

    @Test
    void durableFramesBeyondTheCapCloseWith1013() {
        HeldSender s = new HeldSender();
        Outbox o = new Outbox(s, 100, 100, Outbox.Observer.NONE);
        o.offer(Frame.text(Frame.Kind.DURABLE, "x", "{}"));
        assertTrue(o.offer(Frame.text(Frame.Kind.DURABLE, "x", "x".repeat(40))));
        assertFalse(o.offer(Frame.text(Frame.Kind.DURABLE, "x", "y".repeat(40))));
        assertTrue(o.isClosed());
        assertEquals(Outbox.CLOSE_TRY_AGAIN_LATER, s.closedWith);
        assertEquals(0, o.queuedBytes());
    }

    @Test
    void oneFrameInFlightAtATime() {
        HeldSender s = new HeldSender();
        Outbox o = new Outbox(s, 1 << 20, 100, Outbox.Observer.NONE);
        o.offer(Frame.text(Frame.Kind.DURABLE, "x", "1"));
        o.offer(Frame.text(Frame.Kind.DURABLE, "x", "2"));
        assertEquals(1, s.sent.size());
        s.complete();
        assertEquals(2, s.sent.size());
    }
}
