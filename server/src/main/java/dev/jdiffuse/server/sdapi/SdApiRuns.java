package dev.jdiffuse.server.sdapi;

import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobManager;
import dev.jdiffuse.server.jobs.JobStatus;

import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The A1111 requests in flight: each is one {@link Run} whose images are queued jobs; what {@code /progress},
 * {@code /interrupt} and {@code /skip} act on, and the blocking wait of their request threads (on the job manager's
 * {@link JobManager#whenEnded} future, so waiting costs no polling). Public for the other synchronous layer, the OpenAI
 * Images routes ({@code dev.jdiffuse.server.openai}), which waits on its jobs the same way.
 */
public final class SdApiRuns {

    /** One A1111 request: its owner, how many images it makes, its jobs so far, and whether it was stopped. */
    public static final class Run {
        final String owner;
        final int total;
        final Instant started = Instant.now();
        final long startNanos = System.nanoTime();
        final List<Job> jobs = new CopyOnWriteArrayList<>();
        final Set<String> skipped = ConcurrentHashMap.newKeySet();
        volatile boolean interrupted;

        Run(String owner, int total) {
            this.owner = owner;
            this.total = total;
        }

        /** Records a job queued for this run (what {@link #abandon} cancels). */
        public void add(Job job) {
            jobs.add(job);
        }

        int ended() {
            return (int) jobs.stream().filter(j -> j.status().terminal()).count();
        }
    }

    private final JobManager jobs;
    private final Set<Run> active = ConcurrentHashMap.newKeySet();

    /**
     * The run whose request is submitting on this thread: a job joins it as it is accepted, before a worker can start
     * it, so {@code /progress} never misses a job that already runs (it did when the job was added after its
     * submission returned: a CI run read step 0 of a job already held at its first step).
     */
    private final ThreadLocal<Run> submitting = new ThreadLocal<>();

    public SdApiRuns(JobManager jobs) {
        this.jobs = jobs;
        jobs.onAccepted(job -> {
            Run r = submitting.get();
            if (r != null) {
                r.add(job);
            }
        });
    }

    /** Jobs accepted on this thread until {@link #submitted} join {@code r}. */
    public void submitting(Run r) {
        submitting.set(r);
    }

    public void submitted() {
        submitting.remove();
    }

    public Run start(String owner, int total) {
        Run r = new Run(owner, total);
        active.add(r);
        return r;
    }

    public void finish(Run r) {
        active.remove(r);
    }

    /** The runs a caller may see (its own; an admin's or the keyless server's: all), oldest first. */
    List<Run> visible(java.util.function.Predicate<String> mayAccess) {
        return active.stream().filter(r -> mayAccess.test(r.owner))
                .sorted(java.util.Comparator.comparingLong(r -> r.startNanos)).toList();
    }

    /**
     * Blocks until {@code job} has ended and returns it; an interrupt (server shutdown) is kept on the thread and
     * ends the wait with {@code stopped}, the caller's error in its own dialect.
     */
    public Job awaitEnd(Job job, Supplier<? extends RuntimeException> stopped) {
        try {
            return jobs.whenEnded(job).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw stopped.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Stops the run: no more images are queued, and its queued and running ones are cancelled. */
    void interrupt(Run r) {
        r.interrupted = true;
        for (Job j : r.jobs) {
            if (!j.status().terminal()) {
                jobs.cancel(j);
            }
        }
    }

    /** Cancels the run's running images only; the run goes on with the next ones (A1111's "Skip"). */
    void skip(Run r) {
        for (Job j : r.jobs) {
            if (j.status() == JobStatus.RUNNING || j.status() == JobStatus.LOADING) {
                r.skipped.add(j.id());
                jobs.cancel(j);
            }
        }
    }

    /** Cancels every job of the run that has not ended (the request failed or its thread was stopped). */
    public void abandon(Run r) {
        for (Job j : r.jobs) {
            if (!j.status().terminal()) {
                jobs.cancel(j);
            }
        }
    }
}
