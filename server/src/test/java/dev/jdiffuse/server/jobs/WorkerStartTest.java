package dev.jdiffuse.server.jobs;

import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every worker thread runs the worker setup (on the GPU: {@code InferenceThreads.warm}) once, with its own device's
 * label, when the manager starts, before any job reaches it.
 */
class WorkerStartTest {

    @Test
    void everyWorkerRunsTheSetupOnceWithItsDevice() throws Exception {
        int perDevice = 3;
        List<String> devices = List.of("cpu", "cuda:1");
        Set<String> seen = ConcurrentHashMap.newKeySet();
        CountDownLatch all = new CountDownLatch(perDevice * devices.size());
        JobManager jobs = new JobManager(4, Duration.ofMinutes(1), perDevice, devices, JobOutcomes.NONE,
                (job, result) -> List.of(), Clock.systemUTC());
        try {
            jobs.onWorkerStart(label -> {
                assertTrue(seen.add(Thread.currentThread().getName() + " " + label), "set up twice");
                all.countDown();
            });
            jobs.start();
            assertTrue(all.await(10, TimeUnit.SECONDS), "every worker ran the setup: " + seen);
            assertEquals(perDevice, seen.stream().filter(s -> s.endsWith(" cpu")).count(), seen.toString());
            assertEquals(perDevice, seen.stream().filter(s -> s.endsWith(" cuda:1")).count(), seen.toString());
        } finally {
            jobs.close();
        }
    }

    @Test
    void aFailingSetupLeavesTheWorkersAlive() throws Exception {
        CountDownLatch tried = new CountDownLatch(2);
        JobManager jobs = new JobManager(4, Duration.ofMinutes(1), 2, JobOutcomes.NONE, (job, result) -> List.of(),
                Clock.systemUTC());
        try {
            jobs.onWorkerStart(label -> {
                tried.countDown();
                throw new IllegalStateException("no such device");
            });
            jobs.start();
            assertTrue(tried.await(10, TimeUnit.SECONDS));
            Thread.sleep(100);
            assertTrue(jobs.workersAlive(), "a worker whose setup failed still takes jobs");
        } finally {
            jobs.close();
        }
    }
}
