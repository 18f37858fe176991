package dev.jdiffuse.server.images;

import dev.jdiffuse.server.web.ApiException;

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
 * Uploaded images by server-made id, kept as the client sent them (encoded: a 49 KB PNG of 4096x4096 costs 49 KB,
 * not the 64 MiB of its pixels) and decoded each time a request uses one. Bounded in bytes (a further upload is
 * refused with 507 {@code storage_full} until older ones expire), in count (the oldest is evicted first) and in age
 * (entries older than the TTL are gone), so uploads never accumulate. Thread-safe.
 */
public final class UploadStore {

    /** A stored upload: its size, format and encoded bytes (or, from the command line, the image itself). */
    public static final class Upload {
        private final String id;
        private final byte[] encoded;
        private final BufferedImage decoded;
        private final int width;
        private final int height;
        private final String format;
        private final Instant created;
        private final ImageDecoder decoder;

        Upload(String id, byte[] encoded, BufferedImage decoded, int width, int height, String format,
                Instant created, ImageDecoder decoder) {
            this.id = id;
            this.encoded = encoded;
            this.decoded = decoded;
            this.width = width;
            this.height = height;
            this.format = format;
            this.created = created;
            this.decoder = decoder;
        }

        public String id() {
            return id;
        }

        /** The pixels, decoded now (each call decodes anew: nothing decoded is kept by the store). */
        public BufferedImage image() {
            return decoded != null ? decoded : decoder.decode(encoded).image();
        }

        public int width() {
            return width;
        }

        public int height() {
            return height;
        }

        public String format() {
            return format;
        }

        public Instant created() {
            return created;
        }

        /** Bytes this entry holds. */
        long bytes() {
            return encoded != null ? encoded.length : 4L * width * height;
        }
    }

    private final int maxEntries;
    private final long maxBytes;
    private final Duration ttl;
    private final Clock clock;
    private final ImageDecoder decoder;
    private final LinkedHashMap<String, Upload> entries = new LinkedHashMap<>();
    private long bytes;

    /** A store of decoded images (the command line's), bounded in count and age. */
    public UploadStore(int maxEntries, Duration ttl, Clock clock) {
        this(maxEntries, Long.MAX_VALUE, ttl, clock, null);
    }

    /**
     * @param maxBytes most encoded bytes held at once
     * @param decoder decodes an entry when it is used
     */
    public UploadStore(int maxEntries, long maxBytes, Duration ttl, Clock clock, ImageDecoder decoder) {
        this.maxEntries = maxEntries;
        this.maxBytes = maxBytes;
        this.ttl = ttl;
        this.clock = clock;
        this.decoder = decoder;
    }

    /** Keeps an already decoded image (the command line's uploads). */
    public synchronized Upload put(BufferedImage image, String format) {
        return add(new Upload(UUID.randomUUID().toString(), null, image, image.getWidth(), image.getHeight(), format,
                clock.instant(), decoder));
    }

    /** Keeps an upload encoded; 507 {@code storage_full} when it does not fit the byte budget. */
    public synchronized Upload put(byte[] encoded, int width, int height, String format) {
        expire();
        if (bytes + encoded.length > maxBytes) {
            throw new ApiException(507, "storage_full", "the upload store holds " + bytes + " of its " + maxBytes
                    + " bytes; uploads expire after " + ttl.toSeconds() + " s", null, Math.max(1,
                    secondsUntilOldestExpires()));
        }
        return add(new Upload(UUID.randomUUID().toString(), encoded, null, width, height, format, clock.instant(),
                decoder));
    }

    private Upload add(Upload u) {
        expire();
        while (entries.size() >= maxEntries) {
            Iterator<Map.Entry<String, Upload>> it = entries.entrySet().iterator();
            bytes -= it.next().getValue().bytes();
            it.remove();
        }
        entries.put(u.id(), u);
        bytes += u.bytes();
        return u;
    }

    private long secondsUntilOldestExpires() {
        return entries.values().stream().findFirst().map(u -> Duration.between(clock.instant(),
                u.created().plus(ttl)).toSeconds() + 1).orElse(1L);
    }

    /** Drops an upload now (an image sent inline with a request, once the request has ended). */
    public synchronized void remove(String id) {
        Upload u = entries.remove(id);
        if (u != null) {
            bytes -= u.bytes();
        }
    }

    public synchronized Optional<Upload> get(String id) {
        expire();
        return Optional.ofNullable(entries.get(id));
    }

    public synchronized int size() {
        expire();
        return entries.size();
    }

    /** Bytes held now. */
    public synchronized long bytes() {
        expire();
        return bytes;
    }

    private void expire() {
        Instant cutoff = clock.instant().minus(ttl);
        Iterator<Upload> it = entries.values().iterator();
        while (it.hasNext()) {
            Upload u = it.next();
            if (u.created().isBefore(cutoff)) {
                bytes -= u.bytes();
                it.remove();
            }
        }
    }
}
