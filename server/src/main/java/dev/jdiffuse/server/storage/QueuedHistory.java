package dev.jdiffuse.server.storage;

import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A history whose records are written by one thread of their own, so that no request or generation waits for the
 * database: each record was a synchronous H2 {@code MERGE} (about 1 ms on the CI machine) on the submitting request's
 * thread, on the worker before the pipeline starts and on the PNG thread before the job's end is announced. A job
 * saved again before its pending write ran is written once, with its state as of that write (a record is always the
 * job's current state, so the newest wins). Reads go to the history itself: the job manager answers recent jobs from
 * memory, where they are until long after their records are written. Images are written at once, on the caller's
 * thread (a job ends only once its files are on disk). {@link #close} writes what is pending, then closes. The cost:
 * a process killed (not stopped) within the moment between a job's end and its record's write leaves that job
 * recorded as it was before (queued or running), so the next start records it as cancelled by the shutdown, though
 * its images were written.
 */
public final class QueuedHistory implements JobStore {

    private static final Logger LOG = LoggerFactory.getLogger(QueuedHistory.class);

    private final JobStore history;
    private final Map<String, Job> pending = new ConcurrentHashMap<>();
    private final ExecutorService writer = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "jdiffuse-history");
        t.setDaemon(true);
        return t;
    });

    public QueuedHistory(JobStore history) {
        this.history = history;
    }

    @Override
    public void save(Job job) {
        if (pending.putIfAbsent(job.id(), job) != null) {
            return; // its queued write has not started: it will read this state
        }
        try {
            writer.execute(() -> {
                // removed before the write reads the job: a save from now on queues another write
                Job latest = pending.remove(job.id());
                try {
                    history.save(latest == null ? job : latest);
                } catch (RuntimeException e) {
                    LOG.error("job {} could not be recorded in the history: {}", job.id(), e.getMessage());
                }
            });
        } catch (RejectedExecutionException e) {
            pending.remove(job.id(), job);
            LOG.error("job {} was not recorded: the history is closed", job.id());
        }
    }

    /** Jobs whose records wait to be written (for tests and the close). */
    int pendingWrites() {
        return pending.size();
    }

    @Override
    public List<Path> writeImages(Job job, List<byte[]> pngs) throws IOException {
        return history.writeImages(job, pngs);
    }

    @Override
    public Optional<Job> find(String id) {
        return history.find(id);
    }

    @Override
    public List<Job> list(String owner, Instant before, int limit) {
        return history.list(owner, before, limit);
    }

    @Override
    public List<Job> unfinished() {
        return history.unfinished();
    }

    @Override
    public byte[] read(Path file) throws IOException {
        return history.read(file);
    }

    /**
     * Writes the pending records, then closes the history; a history stuck for 30 s is left open (closing it would
     * wait behind the stuck write).
     */
    @Override
    public void close() {
        writer.shutdown();
        try {
            if (!writer.awaitTermination(30, TimeUnit.SECONDS)) {
                LOG.error("{} job record(s) were not written: the history did not answer in 30 s", pending.size());
                writer.shutdownNow();
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        history.close();
    }
}
