package dev.jdiffuse.server.stream;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** One WebSocket connection following one or more jobs. */
public final class Subscriber {

    private final Outbox outbox;
    final Set<String> jobs = ConcurrentHashMap.newKeySet();
    /** Jobs whose final event this connection already got (a late joiner's snapshot may carry it first). */
    final Set<String> finished = ConcurrentHashMap.newKeySet();

    public Subscriber(Outbox outbox) {
        this.outbox = outbox;
    }

    public Outbox outbox() {
        return outbox;
    }
}
