package dev.jdiffuse.samplers.batching;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * The row-wise device work of a {@link StepBatcher}'s jobs before their first step (text encoding), gathered on the
 * batcher's forward thread: calls that wait there while it is busy run as ONE call on their concatenated rows.
 *
 * <p>Why: a burst of users starting together used to encode their prompts one job after another on the forward
 * thread (CLIP-L as one TorchScript call is about 4 ms of host time whatever the batch: 16 prompts took 40-90 ms,
 * H100/H200, issue 13), so the last job reached its first step that much after the first, and the jobs ran their
 * steps in different forwards. Gathered, the first caller's call runs at once (as it would alone) and the others,
 * which arrive while it runs, share the next one.
 *
 * <p>How: a caller queues its call and, when no run for its key is queued on the forward thread yet, queues one; the
 * run takes every call of its key waiting at the moment it starts (not when it was queued). A lone call is the
 * function on the caller's own array, as without gathering. Calls share a run when their keys are equal: the
 * function's key and the rows' shape without the batch axis, dtype and device. The function must be row-wise: row i of
 * each output depends on input row i only ([B, ...] to outputs of [B, ...]). If a shared run fails, each call runs
 * alone, so that one job's failure reaches that job only. Calls from threads without a lane of the batcher run the
 * function right where they are.
 *
 * <p>Memory: the concatenated rows and the shared outputs live in a sub-manager of the first caller's rows' manager,
 * closed after the run; each caller's rows of each output move to its own rows' manager.
 */
public final class StartGatherer {

    /** Told of each run for joined jobs: how many calls and their rows. */
    @FunctionalInterface
    public interface Observer {
        Observer NONE = (calls, rows) -> { };

        void ran(int calls, int rows);
    }

    private final StepBatcher batcher;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition finished = lock.newCondition();
    /** Calls not yet taken by a run, in arrival order; guarded by {@link #lock}. */
    private final List<Call> pending = new ArrayList<>();
    /** Keys with a run queued on the forward thread that has not taken its calls yet; guarded by {@link #lock}. */
    private final Set<RowGatherer.GatherKey> queued = new HashSet<>();
    private volatile Observer observer = Observer.NONE;

    StartGatherer(StepBatcher batcher) {
        this.batcher = batcher;
    }

    public void observe(Observer o) {
        observer = o == null ? Observer.NONE : o;
    }

    /**
     * {@code rowwise(rows)} of the current thread's job, possibly computed with other starting jobs' rows.
     *
     * @param rows [B, ...] the job's rows
     * @param function what must be equal (besides shape, dtype and device) for calls to share a run ({@code equals})
     * @param rowwise [B, ...] to outputs whose first axis is the batch axis
     * @return the outputs for this job's rows, in {@code rows}' manager
     */
    public NDList apply(NDArray rows, Object function, Function<NDArray, NDList> rowwise) {
        Lane lane = StepBatcher.current();
        if (lane == null || lane.batcher != batcher) {
            return rowwise.apply(rows);
        }
        Call call = new Call(rows, RowGatherer.GatherKey.of(function, rows), rowwise);
        boolean runIt;
        lock.lock();
        try {
            pending.add(call);
            runIt = queued.add(call.key);
        } finally {
            lock.unlock();
        }
        if (runIt) {
            try {
                batcher.onForwardThread(() -> {
                    run(call.key);
                    return null;
                });
            } catch (RuntimeException | Error e) {
                failQueued(call.key, e); // not handed over (the batcher was closed): no run would ever take them
            }
        }
        lock.lock();
        try {
            while (!call.done) {
                finished.awaitUninterruptibly(); // short device work, already on its way: waited for as a whole
            }
        } finally {
            lock.unlock();
        }
        if (call.error instanceof RuntimeException e) {
            throw e;
        }
        if (call.error instanceof Error e) {
            throw e;
        }
        return call.output;
    }

    /** Calls waiting for their run now (for tests and gauges). */
    public int waiting() {
        lock.lock();
        try {
            return pending.size();
        } finally {
            lock.unlock();
        }
    }

    /** The calls of {@code key} not taken by a run end with {@code error}, and a later call queues a run again. */
    private void failQueued(RowGatherer.GatherKey key, Throwable error) {
        lock.lock();
        try {
            queued.remove(key);
            for (java.util.Iterator<Call> it = pending.iterator(); it.hasNext(); ) {
                Call c = it.next();
                if (c.key.equals(key)) {
                    c.error = error;
                    c.done = true;
                    it.remove();
                }
            }
            finished.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** On the forward thread: every call of {@code key} waiting now, as one run. */
    private void run(RowGatherer.GatherKey key) {
        List<Call> group = new ArrayList<>();
        lock.lock();
        try {
            queued.remove(key);
            for (Call c : pending) {
                if (c.key.equals(key)) {
                    group.add(c);
                }
            }
            pending.removeAll(group);
        } finally {
            lock.unlock();
        }
        if (group.isEmpty()) {
            return;
        }
        try {
            if (group.size() == 1) {
                alone(group.get(0));
            } else {
                try {
                    together(group);
                } catch (RuntimeException | Error e) {
                    group.forEach(StartGatherer::alone); // the failure reaches only the calls that fail alone
                }
            }
            try {
                observer.ran(group.size(), group.stream().mapToInt(c -> (int) c.rows.getShape().get(0)).sum());
            } catch (RuntimeException e) {
                // an observer's failure is no job's: the outputs are made
            }
        } finally {
            lock.lock();
            try {
                group.forEach(c -> c.done = true);
                finished.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    private static void alone(Call c) {
        try {
            c.output = c.rowwise.apply(c.rows);
            c.error = null;
        } catch (RuntimeException | Error e) {
            c.error = e;
        }
    }

    private static void together(List<Call> group) {
        NDManager owner = group.get(0).rows.getManager();
        try (NDManager shared = owner.newSubManager()) {
            NDList inputs = new NDList();
            for (Call c : group) {
                inputs.add(c.rows);
            }
            NDArray all = NDArrays.concat(inputs, 0);
            all.attach(shared);
            NDList outputs = group.get(0).rowwise.apply(all);
            outputs.attach(shared);
            long at = 0;
            for (Call c : group) {
                long n = c.rows.getShape().get(0);
                NDList mine = new NDList(outputs.size());
                for (NDArray o : outputs) {
                    NDArray part = o.get(new NDIndex("{}:{}", at, at + n));
                    part.attach(c.rows.getManager());
                    mine.add(part);
                }
                c.output = mine;
                at += n;
            }
        }
    }

    /** One job's call; {@code done}, {@code output} and {@code error} are published under the lock. */
    private static final class Call {
        final NDArray rows;
        final RowGatherer.GatherKey key;
        final Function<NDArray, NDList> rowwise;
        boolean done;
        NDList output;
        Throwable error;

        Call(NDArray rows, RowGatherer.GatherKey key, Function<NDArray, NDList> rowwise) {
            this.rows = rows;
            this.key = key;
            this.rowwise = rowwise;
        }
    }
}
