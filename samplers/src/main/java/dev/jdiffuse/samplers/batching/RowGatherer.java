package dev.jdiffuse.samplers.batching;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.UnaryOperator;

/**
 * The work of a {@link StepBatcher}'s jobs after their last step, gathered: jobs that ran their steps in the same
 * forwards finish together, and each then applies the same row-wise function (VAE decoding: latents [B, C, h, w] to
 * images [B, 3, H, W]) to its own rows. Applied one job after another, a GPU runs many small calls (16 SD 1.5 jobs:
 * 16 decodes of one 512x512 image, about 27 ms each on an H200); here their rows are concatenated along the batch
 * axis, the function runs ONCE, and each caller gets its own rows of the output back.
 *
 * <p>Who is waited for: the lanes of the batcher that are about to call, that is, lanes that have {@linkplain
 * Lane#leave left} (last step done) and have not called yet, and lanes that were served by the same forward as a
 * waiting call's lane, have made no call since and were in their last step as far as they {@linkplain Lane#stepped
 * reported} (they are between that forward and their leaving; the jobs that shared the forward are woken one after
 * another, so some are not done with it when the first one calls); and lanes one forward behind the oldest waiting
 * call's lane: served by its last forward with one step left after it, or served by it the forward before and now in
 * their last (never a job one forward behind a later caller: in a stream of jobs one step apart each decoding would
 * wait for the next until the cap). A burst of users
 * whose last requests joined one forward late (an HTTP client's threads post over tens of milliseconds) then decodes
 * once, after that forward, instead of the others' decode and then a forward and a decode of the late jobs' own
 * (H200, session 12: 16 users ran 25 forwards of 28 and 32 rows, then one of 4 rows, and decoded twice). A call runs when no such lane is left, when its
 * rows reach the cap ({@link #limit}; by default the batcher's {@code maxImages}), or when the batcher's window has
 * passed since the oldest call of the group arrived. A job alone, or one whose lane has no such companions, therefore
 * never waits, and its call is the function on its own array, as without gathering. Calls from threads without a lane
 * of this batcher go straight to the function.
 *
 * <p>Only calls with equal keys share a call: the function's key (e.g. the VAE), the shape without the batch axis,
 * dtype and device. A cancelled lane's waiting call leaves at once ({@link CancellationException}); one that is
 * already running is waited for. If a shared call fails, each caller runs the function on its own rows alone, so that
 * one job's failure (e.g. out of memory at the larger batch) reaches that job only; checks of the output (finite
 * values) are the caller's, on its own rows.
 *
 * <p>The gathered call, and a lone one, runs on the batcher's forward thread, led by the caller that finds the group
 * ready: PyTorch caches cuDNN's plans per thread, so decodes spread over the job threads would each pay every batch
 * size's first-use cost (VAE decoders are convolutions), and a warm-up could not reach them. Calls over the cap form the next group at once, as in the batcher. Memory: the
 * concatenated input and every intermediate live in a sub-manager of the first caller's input's manager, closed after
 * the call; each caller's rows of the output move to its own input's manager.
 */
public final class RowGatherer {

    /** Told of each call of the function for joined jobs: how many jobs, and the rows (their images). */
    @FunctionalInterface
    public interface Observer {
        Observer NONE = (jobs, rows) -> { };

        void applied(int jobs, int rows);
    }

    private final StepBatcher batcher;
    /** Calls waiting for their group, in arrival order; guarded by the batcher's lock. */
    private final List<GatherCall> pending = new ArrayList<>();
    private volatile Observer observer = Observer.NONE;
    /** Most rows in one call; 0: the batcher's {@code maxImages}. */
    private volatile int maxRows;

    RowGatherer(StepBatcher batcher) {
        this.batcher = batcher;
    }

    /**
     * @param maxRows most rows (images) in one call, whatever the batcher's forwards hold: the VAE decoder's
     *     full-resolution activations take far more memory per image than a denoiser forward; 1 makes every job
     *     call alone, without waiting (as without gathering); 0 (the default) follows the batcher's {@code maxImages}
     */
    public void limit(int maxRows) {
        if (maxRows < 0) {
            throw new IllegalArgumentException("maxRows must be >= 0");
        }
        this.maxRows = maxRows;
    }

    private int cap() {
        int own = maxRows;
        return own > 0 ? own : batcher.maxImages;
    }

    public void observe(Observer o) {
        observer = o == null ? Observer.NONE : o;
    }

    /**
     * {@code rowwise(x)}, possibly computed together with other jobs' rows.
     *
     * @param x [B, ...] the job's rows
     * @param function what must be equal (besides shape, dtype and device) for calls to share one; compared with
     *     {@code equals}
     * @param rowwise a function whose output row i depends on input row i only, [B, ...] to [B, ...]
     * @return [B, ...] in {@code x}'s manager
     * @throws CancellationException if the lane is cancelled (or the thread interrupted) while the call waits
     */
    public NDArray apply(NDArray x, Object function, UnaryOperator<NDArray> rowwise) {
        Lane lane = StepBatcher.current();
        if (lane == null || lane.batcher != batcher) {
            return rowwise.apply(x);
        }
        GatherCall call = new GatherCall(lane, x, GatherKey.of(function, x), rowwise);
        gather(call);
        if (call.alone) {
            NDArray out = rowwise.apply(x);
            observer.applied(1, call.rows);
            return out;
        }
        return call.output;
    }

    /** Calls waiting for their group now (for tests and gauges). */
    public int waiting() {
        batcher.lock.lock();
        try {
            return pending.size();
        } finally {
            batcher.lock.unlock();
        }
    }

    /** Returns once {@code call} is done or must run alone; runs its group if this thread finds it ready. */
    private void gather(GatherCall call) {
        Lane lane = call.lane;
        boolean interrupted = false;
        batcher.lock.lock();
        try {
            if (lane.cancelled) {
                throw new CancellationException("cancelled");
            }
            lane.gathered = true;
            pending.add(call);
            batcher.changed.signalAll();
            while (!call.done) {
                if ((lane.cancelled || interrupted) && pending.remove(call)) {
                    batcher.changed.signalAll();
                    throw new CancellationException(lane.cancelled ? "cancelled" : "interrupted");
                }
                List<GatherCall> group = groupOf(call);
                long wait = group == null ? Long.MAX_VALUE : untilReady(group, System.nanoTime());
                if (wait <= 0) {
                    lead(group);
                    continue;
                }
                try {
                    if (wait == Long.MAX_VALUE) {
                        batcher.changed.await();
                    } else {
                        batcher.changed.awaitNanos(wait);
                    }
                } catch (InterruptedException e) {
                    interrupted = true; // a call already running is waited for: its rows land in our memory
                }
            }
        } finally {
            batcher.lock.unlock();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * The oldest pending call of {@code call}'s key and the later ones, in arrival order, as many as fit in
     * {@link #cap} rows (the first always); null if {@code call} is not among them (it goes in a later group).
     */
    private List<GatherCall> groupOf(GatherCall call) {
        List<GatherCall> group = new ArrayList<>();
        int rows = 0;
        for (GatherCall c : pending) {
            if (c.key.equals(call.key) && (group.isEmpty() || rows + c.rows <= cap())) {
                group.add(c);
                rows += c.rows;
            }
        }
        return group.contains(call) ? group : null;
    }

    /**
     * Nanoseconds until {@code group} should run; at most 0 when it should run now. The window counts from the oldest
     * call's arrival, or, while a trailing job (one forward behind the group) is waited for, from the end of the
     * batcher's last forward if later, and not at all while that job's last forward is pending or running: that
     * forward may take longer than the window on its own (an SD 1.5 forward of 4 rows: 18 ms of host time on an
     * H200, 26 ms on an H100, against a 20 ms window).
     */
    private long untilReady(List<GatherCall> group, long now) {
        int rows = group.stream().mapToInt(c -> c.rows).sum();
        GatherKey key = group.get(0).key;
        boolean full = pending.stream().anyMatch(c -> !group.contains(c) && c.key.equals(key));
        Expected expected = companionsExpected(group);
        if (full || rows >= cap() || expected == Expected.NONE) {
            return 0;
        }
        if (expected == Expected.TRAILING_IN_CALL) {
            return Long.MAX_VALUE; // until its forward ends (the batcher signals): then the window starts again
        }
        long start = group.get(0).arrived;
        if (expected == Expected.TRAILING) {
            start = Math.max(start, batcher.idleSince);
        }
        return start + batcher.windowNanos - now;
    }

    /**
     * Which lanes outside a group are about to call (see the class comment): FINISHING ones, a TRAILING one (one
     * forward behind) before or after its last forward, or a trailing one whose last forward is pending or running
     * (TRAILING_IN_CALL: waited for without a window, which could run out during that forward; on an H100 a forward
     * of the 4 rows of two late SD 1.5 jobs took 26 ms of host time against the 20 ms window).
     */
    private enum Expected { NONE, FINISHING, TRAILING, TRAILING_IN_CALL }

    /**
     * The lanes outside {@code group} that are about to call: TRAILING if any of them is one forward behind the
     * group's oldest call (its forward only: a job one forward behind a later member of the group is not waited for,
     * or a stream of jobs one step apart would hold the first one's decoding until the cap).
     */
    private Expected companionsExpected(List<GatherCall> group) {
        long oldest = group.get(0).lane.lastForward;
        Expected found = Expected.NONE;
        for (Lane l : batcher.lanes) {
            if (l.cancelled || l.gathered || group.stream().anyMatch(c -> c.lane == l)) {
                continue;
            }
            if (l.oneForwardBehind(oldest)) {
                if (l.inCall) {
                    return Expected.TRAILING_IN_CALL;
                }
                found = Expected.TRAILING;
                continue;
            }
            if (l.left) {
                found = found == Expected.NONE ? Expected.FINISHING : found;
                continue;
            }
            if (!l.expected) {
                continue;
            }
            boolean sameForward = l.lastForward != 0 && servedBy(group, l.lastForward);
            if (!l.inCall && sameForward && l.mayBeInLastStep() && found == Expected.NONE) {
                found = Expected.FINISHING;
            }
        }
        return found;
    }

    private static boolean servedBy(List<GatherCall> group, long forward) {
        return group.stream().anyMatch(c -> c.lane.lastForward == forward);
    }

    /** Runs {@code group} on this thread with the lock released. Holds the lock on entry and exit. */
    private void lead(List<GatherCall> group) {
        pending.removeAll(group);
        batcher.changed.signalAll(); // calls left over by the cap form the next group now
        batcher.lock.unlock();
        try {
            batcher.onForwardThread(() -> {
                run(group);
                return null;
            });
        } finally {
            batcher.lock.lock();
            for (GatherCall c : group) {
                c.done = true;
            }
            batcher.changed.signalAll();
        }
    }

    private void run(List<GatherCall> group) {
        int rows = group.stream().mapToInt(c -> c.rows).sum();
        if (group.size() == 1) {
            GatherCall c = group.get(0);
            c.output = c.rowwise.apply(c.x); // a failure is this caller's own
            observer.applied(1, rows);
            return;
        }
        try {
            runTogether(group, rows);
        } catch (RuntimeException | OutOfMemoryError e) {
            for (GatherCall c : group) {
                c.output = null;
                c.alone = true;
            }
            return;
        }
        observer.applied(group.size(), rows);
    }

    private static void runTogether(List<GatherCall> group, int rows) {
        NDManager owner = group.get(0).x.getManager();
        try (NDManager scope = owner.newSubManager()) {
            NDList inputs = new NDList();
            for (GatherCall c : group) {
                inputs.add(c.x);
            }
            NDArray x = NDArrays.concat(inputs, 0);
            x.attach(scope);
            NDArray out = group.get(0).rowwise.apply(x);
            out.attach(scope);
            if (out.getShape().dimension() == 0 || out.getShape().get(0) != rows) {
                throw new IllegalStateException("the function returned " + out.getShape() + " for " + rows
                        + " rows");
            }
            int at = 0;
            for (GatherCall c : group) {
                NDArray part = out.get(new NDIndex("{}:{}", at, at + c.rows));
                part.attach(c.x.getManager());
                c.output = part;
                at += c.rows;
            }
        }
    }

    /** What must be equal for calls to share one call of a row-wise function (also {@link StartGatherer}'s). */
    record GatherKey(Object function, List<Long> sampleShape, DataType dtype, Device device) {
        static GatherKey of(Object function, NDArray x) {
            long[] s = x.getShape().getShape();
            List<Long> rest = new ArrayList<>();
            for (int i = 1; i < s.length; i++) {
                rest.add(s[i]);
            }
            return new GatherKey(function, List.copyOf(rest), x.getDataType(), x.getDevice());
        }
    }

    /** One job's call. Fields after construction are guarded by the batcher's lock. */
    private static final class GatherCall {
        final Lane lane;
        final NDArray x;
        final int rows;
        final GatherKey key;
        final UnaryOperator<NDArray> rowwise;
        final long arrived = System.nanoTime();
        boolean done;
        /** The shared call failed: the caller runs the function on its own rows. */
        boolean alone;
        /** [rows, ...] in {@code x}'s manager once done (unless alone). */
        NDArray output;

        GatherCall(Lane lane, NDArray x, GatherKey key, UnaryOperator<NDArray> rowwise) {
            this.lane = lane;
            this.x = x;
            this.rows = x.getShape().dimension() == 0 ? 1 : (int) x.getShape().get(0);
            this.key = key;
            this.rowwise = rowwise;
        }
    }
}
