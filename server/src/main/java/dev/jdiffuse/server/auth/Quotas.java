package dev.jdiffuse.server.auth;

import dev.jdiffuse.server.web.ApiException;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.function.ToIntFunction;

/**
 * Per-key quotas checked before a job is queued: jobs queued or running at once ({@link Caller#maxActive}) and
 * images requested in any sliding hour ({@link Caller#imagesPerHour}). Over either: 429 {@code quota_exceeded} with
 * {@code Retry-After} (for the hourly quota: until enough of the window's oldest images age out).
 */
public final class Quotas {

    private static final Duration WINDOW = Duration.ofHours(1);

    private record Spent(Instant at, int images) {
    }

    private final Clock clock;
    private final ToIntFunction<String> active;
    private final Map<String, ArrayDeque<Spent>> spent = new HashMap<>();

    /** @param active jobs of an owner that are queued or running */
    public Quotas(Clock clock, ToIntFunction<String> active) {
        this.clock = clock;
        this.active = active;
    }

    /**
     * Admits {@code images} more images for {@code caller} and runs {@code submit} while holding the quota, so two
     * requests of one key cannot both pass the last free slot; {@code submit} throwing gives the images back.
     */
    public synchronized <T> T admit(Caller caller, int images, long retryAfterRunning,
            java.util.function.Supplier<T> submit) {
        if (caller.maxActive() > 0 && active.applyAsInt(caller.name()) >= caller.maxActive()) {
            throw new ApiException(429, "quota_exceeded", "the key '" + caller.name() + "' already has "
                    + caller.maxActive() + " jobs queued or running", null, Math.max(1, retryAfterRunning));
        }
        Instant now = clock.instant();
        ArrayDeque<Spent> window = spent.computeIfAbsent(caller.name(), k -> new ArrayDeque<>());
        while (!window.isEmpty() && !window.peekFirst().at().plus(WINDOW).isAfter(now)) {
            window.pollFirst();
        }
        if (caller.imagesPerHour() > 0) {
            int used = window.stream().mapToInt(Spent::images).sum();
            if (used + images > caller.imagesPerHour()) {
                int free = used;
                long wait = 1;
                for (Spent s : window) {
                    free -= s.images();
                    wait = Math.max(1, Duration.between(now, s.at().plus(WINDOW)).toSeconds() + 1);
                    if (free + images <= caller.imagesPerHour()) {
                        break;
                    }
                }
                throw new ApiException(429, "quota_exceeded", "the key '" + caller.name() + "' may request "
                        + caller.imagesPerHour() + " images an hour and has requested " + used, "batch_size", wait);
            }
        }
        T result = submit.get();
        window.addLast(new Spent(now, images));
        return result;
    }
}
