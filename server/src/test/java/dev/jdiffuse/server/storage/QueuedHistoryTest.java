package dev.jdiffuse.server.storage;

import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.jobs.JobStore;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Records are written off the caller's thread, a job's queued writes collapse into one, and close writes them all. */
class QueuedHistoryTest {

    /** A history that records what it was asked, in order, and holds its first write until released. */
    private static final class SlowHistory implements JobStore {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final CountDownLatch firstWriteStarted = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public void save(Job job) {
            calls.add("save " + job.id());
            firstWriteStarted.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public List<Path> writeImages(Job job, List<byte[]> pngs) {
            calls.add("images " + job.id());
            return List.of();
        }

        @Override
        public Optional<Job> find(String id) {
            return Optional.empty();
        }

        @Override
        public List<Job> list(String owner, Instant before, int limit) {
            return List.of();
        }

        @Override
        public List<Job> unfinished() {
            return List.of();
        }

        @Override
        public byte[] read(Path file) {
            return new byte[0];
        }

        @Override
        public void close() {
            calls.add("close");
        }
    }

    private static Job job(String id) {
        Instant t = Instant.parse("2026-12-05T12:00:00Z");
        return Job.restored(id, "local", "tiny", 1, null, 2, 2, t, t, 10,
                new Job.Outcome(JobStatus.SUCCEEDED, null, 0, null, t, 0), List.of());
    }

    @Test
    void savesReturnWhileTheHistoryIsBusyAndCollapsePerJob() throws Exception {
        SlowHistory slow = new SlowHistory();
        QueuedHistory q = new QueuedHistory(slow);
        Job a = job("a");
        Job b = job("b");
        q.save(a);
        assertTrue(slow.firstWriteStarted.await(5, TimeUnit.SECONDS));
        // the history is stuck in a's first write; these return at once and queue
        for (int i = 0; i < 5; i++) {
            q.save(a);
            q.save(b);
        }
        assertEquals(2, q.pendingWrites(), "one pending write per job");
        q.writeImages(b, List.of());
        assertEquals(List.of("save a", "images b"), slow.calls, "images are written at once, on the caller");
        slow.release.countDown();
        q.close();
        assertEquals(List.of("save a", "images b", "save a", "save b", "close"), slow.calls,
                "the pending writes, each once, then the close");
        assertEquals(0, q.pendingWrites());
    }

    @Test
    void aSaveAfterTheCloseIsDroppedWithoutThrowing() {
        SlowHistory slow = new SlowHistory();
        slow.release.countDown();
        QueuedHistory q = new QueuedHistory(slow);
        q.close();
        q.save(job("late"));
        assertEquals(List.of("close"), slow.calls);
        assertEquals(0, q.pendingWrites());
    }
}
