package dev.jdiffuse.server.stream;

import dev.jdiffuse.models.pipeline.Preview;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobEvents;
import dev.jdiffuse.server.jobs.JobView;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Fans job events out to WebSocket subscribers. The worker thread only enqueues onto one dispatcher thread, which
 * encodes previews and offers frames to each subscriber's bounded {@link Outbox}; nothing here ever waits on a
 * socket, so no client can slow generation. Subscribing also runs on the dispatcher: a late joiner first gets a
 * {@code state} snapshot (and the {@code final} event if the job already ended), then every later event in order.
 * Previews are latest-wins per job already here: if encoding falls behind, older previews are skipped, and a job
 * nobody follows has its previews dropped without encoding.
 *
 * <p>Text events (JSON): {@code state} (the job's state record), {@code step} ({@code step} completed of
 * {@code total}, {@code sigma}, {@code elapsed_ms}, {@code eta_ms}), {@code final} (the state record with image URLs
 * or the error), {@code subscribed}/{@code unsubscribed}, {@code error}. Binary frames: previews, see
 * {@link PreviewFrames}.
 */
public final class StreamHub implements JobEvents, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StreamHub.class);

    private final Function<Object, String> toJson;
    private final ExecutorService dispatcher = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "jdiffuse-stream");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, Set<Subscriber>> byJob = new ConcurrentHashMap<>();
    private final Map<String, Preview> pendingPreview = new ConcurrentHashMap<>();
    private final Set<Subscriber> all = ConcurrentHashMap.newKeySet();

    public StreamHub(Function<Object, String> toJson) {
        this.toJson = toJson;
    }

    public void connected(Subscriber s) {
        all.add(s);
    }

    /** The connection ended: forget it everywhere. */
    public void disconnected(Subscriber s) {
        s.outbox().close();
        all.remove(s);
        for (String id : s.jobs) {
            Set<Subscriber> set = byJob.get(id);
            if (set != null) {
                set.remove(s);
            }
        }
        byJob.values().removeIf(Set::isEmpty);
    }

    public int connections() {
        return all.size();
    }

    /** Outbound bytes waiting in all connections' outboxes. */
    public long queuedBytes() {
        return all.stream().mapToLong(s -> s.outbox().queuedBytes()).sum();
    }

    /** Follows {@code job}: snapshot first, then live events. */
    public void subscribe(Subscriber s, Job job) {
        run(() -> {
            if (s.outbox().isClosed() || !s.jobs.add(job.id())) {
                return;
            }
            byJob.computeIfAbsent(job.id(), k -> ConcurrentHashMap.newKeySet()).add(s);
            s.outbox().offer(Frame.text(Frame.Kind.DURABLE, job.id(),
                    toJson.apply(new JobMessage("subscribed", job.id()))));
            s.outbox().offer(text(Frame.Kind.DURABLE, job, "state", JobView.state(job)));
            if (job.status().terminal() && s.finished.add(job.id())) {
                s.outbox().offer(text(Frame.Kind.DURABLE, job, "final", JobView.state(job)));
            }
        });
    }

    public void unsubscribe(Subscriber s, String jobId) {
        run(() -> {
            if (s.jobs.remove(jobId)) {
                Set<Subscriber> set = byJob.get(jobId);
                if (set != null) {
                    set.remove(s);
                }
                s.outbox().offer(Frame.text(Frame.Kind.DURABLE, jobId,
                        toJson.apply(new JobMessage("unsubscribed", jobId))));
            }
        });
    }

    /** Sends a durable message to one subscriber (replies to control messages). */
    public void reply(Subscriber s, Map<String, Object> message) {
        String json = toJson.apply(message);
        run(() -> s.outbox().offer(Frame.text(Frame.Kind.DURABLE, "", json)));
    }

    @Override
    public void onPosition(Job job, int position) {
        if (byJob.containsKey(job.id())) {
            run(() -> broadcast(job, text(Frame.Kind.PROGRESS, job, "state", JobView.state(job))));
        }
    }

    @Override
    public void onStarted(Job job) {
        run(() -> broadcast(job, text(Frame.Kind.DURABLE, job, "state", JobView.state(job))));
    }

    @Override
    public void onStep(Job job, int step, double sigma, long elapsedMillis, long etaMillis) {
        if (!byJob.containsKey(job.id())) {
            return;
        }
        Frame f = Frame.text(Frame.Kind.PROGRESS, job.id(), toJson.apply(new StepMessage("step", job.id(), step + 1,
                job.totalSteps(), Double.isFinite(sigma) ? sigma : null, elapsedMillis, etaMillis)));
        run(() -> broadcast(job, f));
    }

    @Override
    public void onPreview(Job job, Preview preview) {
        if (!byJob.containsKey(job.id())) {
            return;
        }
        if (pendingPreview.put(job.id(), preview) == null) {
            run(() -> {
                Preview p = pendingPreview.remove(job.id());
                if (p == null || !byJob.containsKey(job.id())) {
                    return;
                }
                try {
                    broadcast(job, PreviewFrames.encode(job.id(), job.totalSteps(), p,
                            job.parameters().preview().maxSize(), toJson));
                } catch (RuntimeException e) {
                    LOG.warn("preview of job {} could not be encoded: {}", job.id(), e.toString());
                }
            });
        }
    }

    @Override
    public void onFinished(Job job) {
        run(() -> {
            pendingPreview.remove(job.id());
            Set<Subscriber> set = byJob.get(job.id());
            if (set == null) {
                return;
            }
            Frame f = text(Frame.Kind.DURABLE, job, "final", JobView.state(job));
            for (Subscriber s : set) {
                if (s.finished.add(job.id())) {
                    s.outbox().offer(f);
                }
            }
        });
    }

    private void broadcast(Job job, Frame f) {
        Set<Subscriber> set = byJob.get(job.id());
        if (set != null) {
            for (Subscriber s : set) {
                s.outbox().offer(f);
            }
        }
    }

    private Frame text(Frame.Kind kind, Job job, String type, JobView state) {
        return Frame.text(kind, job.id(), toJson.apply(new StateMessage(type, job.id(), state)));
    }

    /** A text frame about one job: its type ("state", "final"), the job id, then the job's state without its id. */
    record StateMessage(String type, String job, @JsonUnwrapped @JsonIgnoreProperties("id") JobView state) {
    }

    /** A bare event about one job ("subscribed", "unsubscribed"). */
    record JobMessage(String type, String job) {
    }

    /** A finished step: completed steps, total, the noise level now, elapsed time and the estimate of what is left. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record StepMessage(String type, String job, int step, int total, Double sigma, long elapsedMs, long etaMs) {
    }

    private void run(Runnable task) {
        try {
            dispatcher.execute(() -> {
                try {
                    task.run();
                } catch (RuntimeException e) {
                    LOG.warn("stream dispatch failed: {}", e.toString());
                }
            });
        } catch (RejectedExecutionException e) {
            // closing: events after shutdown go nowhere
        }
    }

    @Override
    public void close() {
        dispatcher.shutdown();
        try {
            dispatcher.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Subscriber s : all) {
            s.outbox().close();
        }
    }
}
