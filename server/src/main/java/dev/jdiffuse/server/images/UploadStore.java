package dev.jdiffuse.server.images;

import java.awt.image.BufferedImage;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * Decoded control images by server-made id. Bounded in count (the oldest is evicted first) and in age (entries older
 * than the TTL are gone), so uploads never accumulate. Thread-safe.
 */
public final class UploadStore {

    /** A stored upload. */
    public record Upload(String id, BufferedImage image, String format, Instant created) {
    }

    private final int maxEntries;
    private final Duration ttl;
    private final Clock clock;
    private final LinkedHashMap<String, Upload> entries = new LinkedHashMap<>();

    public UploadStore(int maxEntries, Duration ttl, Clock clock) {
        this.maxEntries = maxEntries;
        this.ttl = ttl;
        this.clock = clock;
    }

    public synchronized Upload put(BufferedImage image, String format) {
        expire();
        while (entries.size() >= maxEntries) {
            Iterator<Map.Entry<String, Upload>> it = entries.entrySet().iterator();
            it.next();
            it.remove();
        }
        Upload u = new Upload(UUID.randomUUID().toString(), image, format, clock.instant());
        entries.put(u.id(), u);
        return u;
    }

    public synchronized Optional<Upload> get(String id) {
        expire();
        return Optional.ofNullable(entries.get(id));
    }

    public synchronized int size() {
        expire();
        return entries.size();
    }

    private void expire() {
        Instant cutoff = clock.instant().minus(ttl);
        entries.values().removeIf(u -> u.created().isBefore(cutoff));
    }
}
