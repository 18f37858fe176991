package dev.jdiffuse.models.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Applies a request's LoRAs to a loaded model by merging them into its weights, and takes them off again:
 * <pre>  W' = W + sum_i scale_i * (alpha_i / rank_i) * up_i @ down_i</pre>
 * (a convolution's {@code down} [r, in, kh, kw] is flattened to [r, in*kh*kw] and the product reshaped to the
 * weight's [out, in, kh, kw]; LoCon's 3x3 down with 1x1 up is the same formula). A layer of a fused weight the model
 * keeps as several ({@link LoraSlice}: FLUX's {@code qkv}) gives each of them {@code up[its rows] @ down}. The sum is
 * formed in float32 on the weights' device and cast once to the weights' dtype.
 *
 * <p>The base model is never reloaded and never recomputed: each patched {@link Parameter} gets a new array and its
 * original array is kept aside; taking the LoRAs off puts those very arrays back ({@link Parameter#replace}), so the
 * base weights are bit-for-bit what was loaded however many sets were applied before. Only the weights a set touches
 * are copied (the patched copies live in a sub-manager of the weights', closed when the set comes off).
 *
 * <p>The applied set is cached: {@link #use} patches only when a request's set (zero scales left out) differs from
 * the current one; an empty set restores the base. A run holds the set for its duration ({@link Lease}): runs with the
 * same set may overlap, a different set waits for them to end.
 */
public final class LoraPatcher {

    private final NDManager weights;
    private final Supplier<LoraTargets> targetsSource;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Map<LoraFile, List<String>> problems = Collections.synchronizedMap(new WeakHashMap<>());
    private volatile LoraTargets targets;
    private List<LoraSpec> applied = List.of();
    private final Map<Parameter, NDArray> base = new IdentityHashMap<>();
    private NDManager patches;

    /**
     * @param weights the manager holding the model's weights (patched copies go into a sub-manager of it)
     * @param targets the model's adaptable weights, built on first use
     */
    public LoraPatcher(NDManager weights, Supplier<LoraTargets> targets) {
        this.weights = weights;
        this.targetsSource = targets;
    }

    /** The set applied while a run holds it; {@link #close()} releases it (never throws). */
    public interface Lease extends AutoCloseable {
        @Override
        void close();
    }

    private LoraTargets targets() {
        LoraTargets t = targets;
        if (t == null) {
            t = targetsSource.get();
            targets = t;
        }
        return t;
    }

    /**
     * What keeps {@code file} from applying to this model: its layers that match no weight (listed with their keys)
     * and those whose shapes do not fit; empty when it applies. Reads nothing but names and shapes; cached per file.
     */
    public List<String> problems(LoraFile file) {
        return problems.computeIfAbsent(file, this::findProblems);
    }

    private List<String> findProblems(LoraFile file) {
        if (targets().isEmpty()) {
            return List.of("this model's family takes no LoRA");
        }
        List<String> unmatched = new ArrayList<>();
        List<String> misfit = new ArrayList<>();
        for (LoraModule m : file.modules()) {
            List<LoraSlice> slices = targets().slicesOf(m);
            if (slices.isEmpty()) {
                unmatched.add(m.keys());
            } else if (!fits(m, slices)) {
                misfit.add(m.name() + " down " + new Shape(m.downShape()) + " up " + new Shape(m.upShape())
                        + " vs weight" + (slices.size() == 1 ? " " : "s ") + slices.stream()
                        .map(s -> s.weight().shape().toString()).collect(Collectors.joining(" + ")));
            }
        }
        List<String> out = new ArrayList<>();
        if (!unmatched.isEmpty()) {
            out.add(LoraException.listed(file.path().getFileName() + ": keys that match no weight of this model",
                    unmatched));
        }
        if (!misfit.isEmpty()) {
            out.add(LoraException.listed(file.path().getFileName() + ": layers whose shapes do not fit this model",
                    misfit));
        }
        return List.copyOf(out);
    }

    /**
     * up [out, r(, 1, 1)] and down [r, in(, kh, kw)] make a delta of each weight's [rows, in(, kh, kw)] elements, the
     * slices' rows lying in up and adding up to its out.
     */
    private static boolean fits(LoraModule m, List<LoraSlice> slices) {
        long upElements = m.upShape().length == 2 || (m.upShape().length == 4 && m.upShape()[2] == 1
                && m.upShape()[3] == 1) ? m.upShape()[0] * m.upShape()[1] : -1;
        if (m.upShape()[1] != m.rank() || upElements != m.outFeatures() * m.rank()) {
            return false;
        }
        long total = 0;
        for (LoraSlice s : slices) {
            Shape weight = s.weight().shape();
            long rows = s.rows();
            if (weight.get(0) != rows || weight.size() != rows * m.inElements() || s.upRows().stream().anyMatch(
                    r -> r.start() < 0 || r.count() < 1 || r.start() + r.count() > m.outFeatures())) {
                return false;
            }
            total += rows;
        }
        return total == m.outFeatures();
    }

    /**
     * Makes {@code loras} the applied set (patching only if it differs from the current one) and holds it until the
     * lease is closed.
     *
     * @throws LoraException if a LoRA does not fit this model (the base weights are then restored)
     */
    public Lease use(List<LoraSpec> loras) {
        List<LoraSpec> wanted = loras.stream().filter(s -> s.scale() != 0).toList();
        // the common case first: the weights already hold this set, so runs share them (a write lock here would wait
        // for every other running job and serialize jobs that could run, and batch, together)
        lock.readLock().lock();
        if (wanted.equals(applied)) {
            return () -> lock.readLock().unlock();
        }
        lock.readLock().unlock();
        lock.writeLock().lock();
        try {
            if (!wanted.equals(applied)) {
                restore();
                applied = List.of();
                patch(wanted);
                applied = wanted;
            }
            lock.readLock().lock();
        } catch (RuntimeException e) {
            restore();
            throw e;
        } finally {
            lock.writeLock().unlock();
        }
        return () -> lock.readLock().unlock();
    }

    /** The set the weights hold now (zero scales left out). */
    public List<LoraSpec> applied() {
        lock.readLock().lock();
        try {
            return applied;
        } finally {
            lock.readLock().unlock();
        }
    }

    private void patch(List<LoraSpec> loras) {
        if (loras.isEmpty()) {
            return;
        }
        for (LoraSpec s : loras) {
            List<String> p = problems(s.file());
            if (!p.isEmpty()) {
                throw new LoraException(String.join("; ", p));
            }
        }
        try (NDManager temp = weights.newSubManager()) {
            Map<Parameter, NDArray> sums = new LinkedHashMap<>();
            for (LoraSpec s : loras) {
                try (SafetensorsStateDict file = SafetensorsStateDict.open(s.file().path())) {
                    for (LoraModule m : s.file().modules()) {
                        deltas(file, m, s.scale(), targets().slicesOf(m), temp).forEach((p, delta) ->
                                sums.merge(p, delta, NDArray::add));
                    }
                }
            }
            patches = weights.newSubManager();
            sums.forEach((p, delta) -> {
                NDArray original = p.get();
                // half weights are added in float32 (a copy, dropped at once); delta first, so the sum lands in
                // the temporary manager, never in the weights'
                NDArray base32 = original.toType(DataType.FLOAT32, false);
                NDArray patched = delta.add(base32).toType(original.getDataType(), false);
                if (base32 != original) {
                    base32.close();
                }
                patched.attach(patches);
                base.put(p, p.replace(patched));
            });
        }
    }

    /**
     * {@code scale * alpha / r * up[rows] @ down} for each slice, float32, in its weight's shape (a whole slice takes
     * up as it is; a split one its rows, stacked, down shared).
     */
    private static Map<Parameter, NDArray> deltas(SafetensorsStateDict file, LoraModule m, double scale,
            List<LoraSlice> slices, NDManager temp) {
        long r = m.rank();
        NDArray down = file.load(m.downKey(), temp, DataType.FLOAT32).reshape(r, m.inElements());
        NDArray up = file.load(m.upKey(), temp, DataType.FLOAT32).reshape(m.outFeatures(), r);
        double alpha = m.alphaKey() == null ? r : file.load(m.alphaKey(), temp, DataType.FLOAT32).toFloatArray()[0];
        float factor = (float) (scale * alpha / r);
        Map<Parameter, NDArray> out = new LinkedHashMap<>();
        for (LoraSlice s : slices) {
            NDArray rows = s.isWhole(m.outFeatures()) ? up : stackedRows(up, s.upRows());
            out.put(s.weight(), mul(rows.matMul(down), factor).reshape(s.weight().shape()));
        }
        return out;
    }

    /** The row ranges of {@code up} [out, r], stacked in order into a new contiguous [rows, r]. */
    private static NDArray stackedRows(NDArray up, List<LoraSlice.Rows> ranges) {
        NDList parts = new NDList();
        for (LoraSlice.Rows range : ranges) {
            parts.add(up.get(new NDIndex("{}:{}", range.start(), range.start() + range.count())));
        }
        return parts.size() == 1 ? parts.get(0).duplicate() : NDArrays.concat(parts, 0);
    }

    /** Puts every kept base array back and frees the patched copies. */
    private void restore() {
        base.forEach(Parameter::replace);
        base.clear();
        if (patches != null) {
            patches.close();
            patches = null;
        }
        applied = List.of();
    }
}
