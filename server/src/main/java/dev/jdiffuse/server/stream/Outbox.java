package dev.jdiffuse.server.stream;

import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * A WebSocket client's bounded outbound queue: one frame in flight at a time (Jetty's async send with a callback),
 * the rest waiting here. A slow or stalled client therefore costs at most {@code maxBytes} (plus the frame in flight)
 * and never blocks the producer. When a frame arrives: a queued preview or progress frame of the same job and kind is
 * replaced (latest wins); then, while over the byte or frame cap, the oldest preview is dropped, then the oldest
 * progress frame; if durable frames alone exceed the cap the connection is closed with 1013 (Try Again Later) and the
 * client resynchronises over REST (reliability notes 4.5, R14).
 */
public final class Outbox {

    /** Told of every frame dropped and every overflow close (metrics). */
    public interface Observer {
        Observer NONE = new Observer() { };

        default void dropped(Frame.Kind kind) {
        }

        default void overflowClosed() {
        }
    }

    public static final int CLOSE_TRY_AGAIN_LATER = 1013;

    private final FrameSender sender;
    private final long maxBytes;
    private final int maxFrames;
    private final Observer observer;
    private final ArrayDeque<Frame> queue = new ArrayDeque<>();
    private long queuedBytes;
    private boolean sending;
    private boolean closed;

    public Outbox(FrameSender sender, long maxBytes, int maxFrames, Observer observer) {
        this.sender = sender;
        this.maxBytes = maxBytes;
        this.maxFrames = maxFrames;
        this.observer = observer;
    }

    /** Queues {@code f} (never blocks); returns false if the outbox is closed. */
    public boolean offer(Frame f) {
        synchronized (this) {
            if (closed) {
                return false;
            }
            if (f.kind() != Frame.Kind.DURABLE) {
                supersede(f);
            }
            queue.addLast(f);
            queuedBytes += f.size();
            if (!shed()) {
                closed = true;
                queue.clear();
                queuedBytes = 0;
                observer.overflowClosed();
            }
        }
        if (isClosed()) {
            sender.close(CLOSE_TRY_AGAIN_LATER, "client too slow; resync over REST");
            return false;
        }
        pump();
        return true;
    }

    private void supersede(Frame f) {
        for (Iterator<Frame> it = queue.iterator(); it.hasNext(); ) {
            Frame q = it.next();
            if (q.kind() == f.kind() && q.jobId().equals(f.jobId())) {
                it.remove();
                queuedBytes -= q.size();
                observer.dropped(q.kind());
            }
        }
    }

    /** Drops previews, then progress frames, until within the caps; false if durable frames alone exceed them. */
    private boolean shed() {
        for (Frame.Kind kind : new Frame.Kind[] {Frame.Kind.PREVIEW, Frame.Kind.PROGRESS}) {
            for (Iterator<Frame> it = queue.iterator(); overCap() && it.hasNext(); ) {
                Frame q = it.next();
                if (q.kind() == kind) {
                    it.remove();
                    queuedBytes -= q.size();
                    observer.dropped(kind);
                }
            }
        }
        return !overCap();
    }

    private boolean overCap() {
        return queuedBytes > maxBytes || queue.size() > maxFrames;
    }

    private void pump() {
        Frame next;
        synchronized (this) {
            if (sending || closed || queue.isEmpty()) {
                return;
            }
            next = queue.pollFirst();
            queuedBytes -= next.size();
            sending = true;
        }
        sender.send(next, () -> {
            synchronized (this) {
                sending = false;
            }
            pump();
        }, err -> close());
    }

    /** Stops sending and releases queued frames (the connection ended). */
    public void close() {
        synchronized (this) {
            closed = true;
            queue.clear();
            queuedBytes = 0;
        }
    }

    public synchronized boolean isClosed() {
        return closed;
    }

    /** Bytes waiting (not counting the frame in flight). */
    public synchronized long queuedBytes() {
        return queuedBytes;
    }

    public synchronized int queuedFrames() {
        return queue.size();
    }
}
