package dev.jdiffuse.server;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What keeps a server safe to expose and hard to break (docs/security.md): authentication, memory budgets, the cost
 * budget, slow-client limits and where outputs are kept.
 *
 * @param apiKeys the {@code --api-keys} file ({@code name:sha256hex[:options]} lines), or null for no keys
 * @param insecureNoAuth whether to serve beyond loopback without keys anyway ({@code --insecure-no-auth})
 * @param outputDir where every finished image and the job history are written, or null to keep them in memory only
 * @param uploadBudgetBytes most encoded upload bytes held at once; a further upload is 507 {@code storage_full}
 * @param resultBudgetBytes most PNG bytes of finished jobs held in memory; older ones are dropped from memory first
 *     (they are read back from {@code outputDir}, or gone without one)
 * @param decodedBudgetBytes most decoded pixel bytes (4 per pixel) the uploads of queued and running jobs may hold;
 *     a submission beyond it is 507 {@code storage_full}
 * @param maxJobSeconds a job's estimated and allowed run time (0: no limit)
 * @param concurrentUploads upload bodies read at once; more wait up to the body timeout, then 503
 * @param bodyTimeout longest pause while a request body streams in (Jetty's idle timeout)
 * @param shutdownGrace how long SIGTERM waits for the running job before cancelling it
 * @param maxHeldRequests most requests held at once until their job ends ({@code Prefer: wait}, {@code ?wait=});
 *     beyond it the preference is ignored and the job's state answered at once
 * @param maxQueueWait how long a job may wait in the queue before it is cancelled unstarted (reason
 *     {@code expired}), so that work a client has long given up on does not take the GPU; zero: no limit
 */
public record Safety(Path apiKeys, boolean insecureNoAuth, Path outputDir, long uploadBudgetBytes,
        long resultBudgetBytes, long decodedBudgetBytes, double maxJobSeconds, int concurrentUploads,
        Duration bodyTimeout, Duration shutdownGrace, int maxHeldRequests, Duration maxQueueWait) {

    /** Defaults for tests and embedding: no keys, outputs in memory, the budgets of the command line. */
    public static final Safety DEFAULTS = new Safety(null, false, null, 256L << 20, 512L << 20, 1L << 30, 0, 8,
            Duration.ofSeconds(10), Duration.ofSeconds(10), 1024, Duration.ZERO);

    public Safety {
        if (maxQueueWait == null || maxQueueWait.isNegative()) {
            throw new IllegalArgumentException("maxQueueWait must be zero (none) or positive: " + maxQueueWait);
        }
    }

    public Safety withApiKeys(Path file) {
        return new Safety(file, insecureNoAuth, outputDir, uploadBudgetBytes, resultBudgetBytes, decodedBudgetBytes,
                maxJobSeconds, concurrentUploads, bodyTimeout, shutdownGrace, maxHeldRequests, maxQueueWait);
    }

    public Safety withInsecureNoAuth(boolean b) {
        return new Safety(apiKeys, b, outputDir, uploadBudgetBytes, resultBudgetBytes, decodedBudgetBytes,
                maxJobSeconds, concurrentUploads, bodyTimeout, shutdownGrace, maxHeldRequests, maxQueueWait);
    }

    public Safety withOutputDir(Path dir) {
        return new Safety(apiKeys, insecureNoAuth, dir, uploadBudgetBytes, resultBudgetBytes, decodedBudgetBytes,
                maxJobSeconds, concurrentUploads, bodyTimeout, shutdownGrace, maxHeldRequests, maxQueueWait);
    }

    public Safety withBudgets(long uploads, long results, long decoded) {
        return new Safety(apiKeys, insecureNoAuth, outputDir, uploads, results, decoded, maxJobSeconds,
                concurrentUploads, bodyTimeout, shutdownGrace, maxHeldRequests, maxQueueWait);
    }

    public Safety withMaxJobSeconds(double s) {
        return new Safety(apiKeys, insecureNoAuth, outputDir, uploadBudgetBytes, resultBudgetBytes,
                decodedBudgetBytes, s, concurrentUploads, bodyTimeout, shutdownGrace, maxHeldRequests, maxQueueWait);
    }

    public Safety withSlowClients(int uploads, Duration timeout) {
        return new Safety(apiKeys, insecureNoAuth, outputDir, uploadBudgetBytes, resultBudgetBytes,
                decodedBudgetBytes, maxJobSeconds, uploads, timeout, shutdownGrace, maxHeldRequests, maxQueueWait);
    }

    public Safety withShutdownGrace(Duration grace) {
        return new Safety(apiKeys, insecureNoAuth, outputDir, uploadBudgetBytes, resultBudgetBytes,
                decodedBudgetBytes, maxJobSeconds, concurrentUploads, bodyTimeout, grace, maxHeldRequests,
                maxQueueWait);
    }

    public Safety withMaxHeldRequests(int n) {
        return new Safety(apiKeys, insecureNoAuth, outputDir, uploadBudgetBytes, resultBudgetBytes,
                decodedBudgetBytes, maxJobSeconds, concurrentUploads, bodyTimeout, shutdownGrace, n, maxQueueWait);
    }

    public Safety withMaxQueueWait(Duration limit) {
        return new Safety(apiKeys, insecureNoAuth, outputDir, uploadBudgetBytes, resultBudgetBytes,
                decodedBudgetBytes, maxJobSeconds, concurrentUploads, bodyTimeout, shutdownGrace, maxHeldRequests,
                limit);
    }
}
