package dev.jdiffuse.server.api;

import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.web.ApiException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pixels that waiting and running jobs hold decoded: a job's control and init images are decoded when it is
 * accepted (4 bytes a pixel) and released when it ends. A submission that would take the total past the budget is
 * refused before anything is decoded: 507 {@code storage_full} naming the image field.
 */
final class DecodedBudget {

    private final long maxBytes;
    private final Map<String, Long> byJob = new ConcurrentHashMap<>();
    private long used;

    DecodedBudget(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    /** The uploads a body names (unknown ids count nothing: the validator refuses them). */
    static long bytesOf(GenerationBody b, UploadStore uploads) {
        List<String> ids = new ArrayList<>();
        if (b.initImage() != null) {
            ids.add(b.initImage());
        }
        if (b.controlnets() != null) {
            for (var c : b.controlnets()) {
                if (c != null && c.image() != null) {
                    ids.add(c.image());
                }
            }
        }
        long total = 0;
        for (String id : ids) {
            total += uploads.get(id).map(u -> 4L * u.width() * u.height()).orElse(0L);
        }
        return total;
    }

    /** Takes {@code bytes} or throws 507; {@link #cancel} or {@link #assign} follows. */
    synchronized void reserve(long bytes, String field) {
        if (bytes > 0 && used + bytes > maxBytes) {
            throw new ApiException(507, "storage_full", "the queued jobs' images hold " + used + " of the "
                    + maxBytes + " bytes allowed decoded; this request needs " + bytes + " more", field, 5L);
        }
        used += bytes;
    }

    synchronized void cancel(long bytes) {
        used -= bytes;
    }

    void assign(String jobId, long bytes) {
        if (bytes > 0) {
            byJob.put(jobId, bytes);
        }
    }

    /** Gives back what an ended job held. */
    void ended(String jobId) {
        Long b = byJob.remove(jobId);
        if (b != null) {
            synchronized (this) {
                used -= b;
            }
        }
    }

    synchronized long used() {
        return used;
    }
}
