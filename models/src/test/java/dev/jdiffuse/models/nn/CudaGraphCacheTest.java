package dev.jdiffuse.models.nn;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cache's bookkeeping around the native graphs (which need a CUDA device and the helper library, measured on the
 * GPU machine: bench/gpu/session15.sh), against a stand-in that records what it was asked: one capture per shape,
 * replays of it after, the least recently used graph released past the limit, pools shared through a live graph,
 * a failed replay falling back for that shape and a failed capture for every model, everything released on close.
 */
class CudaGraphCacheTest {

    /** Graph handles 1, 2, ...; replay answers {graph, call count}; fails where told. */
    private static final class Recorder implements CudaGraphCache.Graphs {
        final List<String> captures = new ArrayList<>();
        final List<Long> shareWith = new ArrayList<>();
        final Set<Long> live = new HashSet<>();
        final List<Long> released = new ArrayList<>();
        Set<String> failCapture = new HashSet<>();
        boolean failReplay;
        long next = 1;
        long replays;

        @Override
        public long captured(long module, String method, long[] args, boolean[] varying, int warmups, long share) {
            String key = method + args.length;
            if (failCapture.contains(method)) {
                throw new IllegalStateException("CUDA graph capture failed: out of memory");
            }
            captures.add(key);
            shareWith.add(share);
            live.add(next);
            return next++;
        }

        @Override
        public long[] replayed(long graph, long[] args) {
            assertTrue(live.contains(graph), "a released graph was replayed: " + graph);
            if (failReplay) {
                throw new IllegalStateException("CUDA graph replay failed: fixed argument 3 holds other tensors");
            }
            return new long[] {graph, ++replays};
        }

        @Override
        public void released(long graph) {
            assertTrue(live.remove(graph), "released twice or never captured: " + graph);
            released.add(graph);
        }
    }

    private static long[] call(CudaGraphCache c, String method, String key) {
        return c.call(7, method, new long[] {11, 12}, new boolean[] {true, false}, key);
    }

    @Test
    void oneCapturePerShapeThenReplays() {
        Recorder r = new Recorder();
        try (CudaGraphCache c = new CudaGraphCache("test", "gpu(0)", r, () -> true, new AtomicReference<>())) {
            assertArrayEquals(new long[] {1, 1}, call(c, "forward", "2 rows"));
            assertArrayEquals(new long[] {1, 2}, call(c, "forward", "2 rows"), "the same graph replayed");
            assertArrayEquals(new long[] {2, 3}, call(c, "forward", "4 rows"), "a new shape, a new graph");
            assertEquals(2, r.captures.size());
            assertEquals(List.of(0L, 1L), r.shareWith, "the first graph makes a pool, the next shares a live one's");
        }
        assertEquals(Set.of(), r.live, "close releases every graph");
    }

    @Test
    void theLeastRecentlyUsedGraphGoesPastTheLimit() {
        Recorder r = new Recorder();
        try (CudaGraphCache c = new CudaGraphCache("test", "gpu(0)", r, () -> true, new AtomicReference<>())) {
            for (int i = 0; i < CudaGraphCache.MAX_GRAPHS; i++) {
                call(c, "forward", "shape " + i);
            }
            call(c, "forward", "shape 0"); // used again: shape 1 is now the least recently used
            call(c, "forward", "one more");
            assertEquals(List.of(2L), r.released, "shape 1's graph released");
            assertEquals(CudaGraphCache.MAX_GRAPHS, r.live.size());
            call(c, "forward", "shape 1");
            assertEquals(CudaGraphCache.MAX_GRAPHS + 2, r.captures.size(), "shape 1 captured again");
        }
    }

    /** A failed capture may leave PyTorch's allocator mid-capture: no graph anywhere after it, even captured ones. */
    @Test
    void aFailedCaptureTurnsGraphsOffForEveryModel() {
        Recorder r = new Recorder();
        r.failCapture = Set.of("broken");
        AtomicReference<String> process = new AtomicReference<>();
        try (CudaGraphCache a = new CudaGraphCache("a", "gpu(0)", r, () -> true, process);
                CudaGraphCache b = new CudaGraphCache("b", "gpu(1)", r, () -> true, process)) {
            assertFalse(call(a, "forward", "2 rows") == null, "captured and replayed");
            assertNull(call(b, "broken", "2 rows"), "the caller runs the method itself");
            assertTrue(process.get() != null && process.get().contains("out of memory"), String.valueOf(process));
            assertNull(call(a, "forward", "2 rows"), "the other model's captured graph is not replayed either");
            assertNull(call(b, "forward", "4 rows"));
            assertEquals(1, r.captures.size());
            assertEquals(1, r.replays);
        }
        assertEquals(Set.of(), r.live, "closing still releases the graphs");
    }

    @Test
    void aFailedReplayReleasesTheGraphAndFallsBack() {
        Recorder r = new Recorder();
        try (CudaGraphCache c = new CudaGraphCache("test", "gpu(0)", r, () -> true, new AtomicReference<>())) {
            call(c, "forward", "2 rows");
            r.failReplay = true;
            assertNull(call(c, "forward", "2 rows"));
            assertEquals(List.of(1L), r.released);
            r.failReplay = false;
            assertNull(call(c, "forward", "2 rows"), "not captured again");
            assertEquals(1, r.captures.size());
        }
    }

    @Test
    void withoutTheHelperNothingNativeIsTouched() {
        Recorder r = new Recorder();
        try (CudaGraphCache c = new CudaGraphCache("test", "gpu(0)", r, () -> false, new AtomicReference<>())) {
            assertNull(call(c, "forward", "2 rows"));
        }
        assertEquals(0, r.captures.size());
        if (System.getProperty(CudaGraphs.PROPERTY) == null && System.getenv(CudaGraphs.ENV) == null) {
            assertFalse(CudaGraphs.available(), "no library named: graphs off");
        }
    }
}
