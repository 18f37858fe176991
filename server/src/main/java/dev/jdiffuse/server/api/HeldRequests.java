package dev.jdiffuse.server.api;

import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobManager;
import io.javalin.http.Context;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Requests held until their job ends ({@link WaitPreference}): suspended (no thread is held meanwhile), counted, at
 * most {@code max} at once, answered on their own threads.
 */
final class HeldRequests {

    /**
     * The threads that write the answers as jobs end: not the thread that ended the job (it encodes the next job's
     * PNGs: with 300 held requests, writing their answers there held it 0.56 s) nor the time-out's timer.
     */
    private static final Executor RESPONDERS = Executors.newFixedThreadPool(2, r -> {
        Thread t = new Thread(r, "jdiffuse-wait-responder");
        t.setDaemon(true);
        return t;
    });

    private final JobManager jobs;
    private final AtomicInteger held = new AtomicInteger();
    private volatile int max = Integer.MAX_VALUE;

    HeldRequests(JobManager jobs) {
        this.jobs = jobs;
    }

    void max(int n) {
        max = n;
    }

    /**
     * {@code wait} with a place among the held requests taken for it, or null when there is none or no place is left
     * (RFC 7240 lets a server ignore a preference). The place is taken here, atomically, so a burst cannot pass the
     * cap; a caller given a wait must {@link #hold} the request right away (nothing that can fail in between), which
     * gives the place back when the hold ends.
     */
    WaitPreference reserve(WaitPreference wait) {
        if (wait == null) {
            return null;
        }
        for (int n = held.get(); n < max; n = held.get()) {
            if (held.compareAndSet(n, n + 1)) {
                return wait;
            }
        }
        return null;
    }

    /**
     * Suspends the request, whose place {@link #reserve} took, until {@code job} has ended or the hold passes, then
     * answers through {@code answer} (which reads the job's state once, so the status it sends matches the record it
     * sends). The shared end future is copied, so that this hold's time-out completes only its own.
     */
    void hold(Context ctx, Job job, WaitPreference wait, Consumer<Job> answer) {
        ctx.future(() -> {
            try {
                CompletableFuture<Void> done = jobs.whenEnded(job).thenApply(j -> j)
                        .completeOnTimeout(job, wait.hold().toMillis(), TimeUnit.MILLISECONDS)
                        .thenAcceptAsync(answer, RESPONDERS);
                // on the future handed to Javalin: also when it cancels it
                done.whenComplete((v, e) -> held.decrementAndGet());
                return done;
            } catch (RuntimeException | Error e) {
                held.decrementAndGet();
                throw e;
            }
        });
    }

    /** Held requests whose answer is not yet ready. */
    int count() {
        return held.get();
    }

    /** Waits up to {@code max} until no answer is pending (handed to the server, which writes it just after). */
    void awaitAnswered(Duration max) {
        long end = System.nanoTime() + max.toNanos();
        while (held.get() > 0 && System.nanoTime() < end) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
