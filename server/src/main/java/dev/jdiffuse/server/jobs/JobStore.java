package dev.jdiffuse.server.jobs;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Where jobs outlive the process: finished images as files, job records (parameters, owner, status, timings, the
 * files; never pixels) in a history. {@link #NONE} keeps nothing (memory only, as the tests' servers run).
 */
public interface JobStore extends AutoCloseable {

    /** Writes a succeeded job's PNGs and returns their files (empty when nothing is kept). */
    List<Path> writeImages(Job job, List<byte[]> pngs) throws IOException;

    /** Records the job's current state (called when it is accepted, when it starts and when it ends). */
    void save(Job job);

    /** A job of the history that is no longer in memory. */
    Optional<Job> find(String id);

    /** The newest jobs first, at most {@code limit}, of {@code owner} (null: everyone's), created before {@code before}. */
    List<Job> list(String owner, java.time.Instant before, int limit);

    /** Jobs that were queued or running when the process stopped without recording their end. */
    List<Job> unfinished();

    byte[] read(Path file) throws IOException;

    @Override
    void close();

    JobStore NONE = new JobStore() {
        @Override
        public List<Path> writeImages(Job job, List<byte[]> pngs) {
            return List.of();
        }

        @Override
        public void save(Job job) {
        }

        @Override
        public Optional<Job> find(String id) {
            return Optional.empty();
        }

        @Override
        public List<Job> list(String owner, java.time.Instant before, int limit) {
            return List.of();
        }

        @Override
        public List<Job> unfinished() {
            return List.of();
        }

        @Override
        public byte[] read(Path file) throws IOException {
            throw new IOException("no output folder");
        }

        @Override
        public void close() {
        }
    };
}
