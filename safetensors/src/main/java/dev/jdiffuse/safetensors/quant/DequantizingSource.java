package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsException;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.safetensors.TensorSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A quantized checkpoint seen as an ordinary one: each quantized weight is presented under its own name as F32 with
 * its true shape, its values computed from the stored data and scales when read (lazily, per tensor); the helper
 * tensors (scales, markers, absmax, code maps, quant states) are not listed and cannot be read. Every other tensor is
 * the underlying source's, untouched. The {@link TensorInfo} of a presented weight has synthetic offsets
 * {@code [0, 4 x numel)}: its bytes are computed, not mapped. Its buffers are direct, read-only, little-endian and
 * live on their own (closing the source does not invalidate them).
 */
public final class DequantizingSource implements TensorSource {

    private final TensorSource raw;
    private final Map<String, Dequantized> tensors;
    private final Set<String> hidden;
    private final Set<String> names;
    private volatile boolean closed;

    DequantizingSource(TensorSource raw, Map<String, Dequantized> tensors, Set<String> hidden) {
        this.raw = raw;
        this.tensors = Map.copyOf(tensors);
        this.hidden = Set.copyOf(hidden);
        Set<String> visible = new LinkedHashSet<>();
        for (String n : raw.names()) {
            if (!hidden.contains(n)) {
                visible.add(n);
            }
        }
        this.names = Collections.unmodifiableSet(visible);
    }

    /** The source as stored, helpers and packed bytes included. */
    public TensorSource raw() {
        return raw;
    }

    /** The names presented dequantized. */
    public Set<String> dequantized() {
        return tensors.keySet();
    }

    @Override
    public String description() {
        return raw.description();
    }

    @Override
    public Set<String> names() {
        checkOpen();
        return names;
    }

    @Override
    public boolean contains(String name) {
        checkOpen();
        return names.contains(name);
    }

    @Override
    public TensorInfo info(String name) {
        checkOpen();
        Dequantized d = tensors.get(name);
        if (d != null) {
            long[] shape = d.shape();
            return new TensorInfo(name, DType.F32, shape, 0, Math.multiplyExact(numel(shape), 4L));
        }
        if (hidden.contains(name)) {
            throw new SafetensorsException(raw.description() + ": no tensor named '" + name
                    + "' (it is a quantization helper of the stored file; the weights are presented dequantized)");
        }
        return raw.info(name);
    }

    @Override
    public Map<String, String> metadata() {
        return raw.metadata();
    }

    @Override
    public ByteBuffer buffer(String name) {
        Dequantized d = dequantizedOrNull(name);
        if (d == null) {
            return raw.buffer(name);
        }
        float[] v = values(name, d);
        if (4L * v.length > Integer.MAX_VALUE) {
            throw new SafetensorsException(raw.description() + ": dequantized tensor '" + name + "' has " + v.length
                    + " elements, more than one ByteBuffer can address");
        }
        ByteBuffer out = ByteBuffer.allocateDirect(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        out.asFloatBuffer().put(v);
        return out.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public List<ByteBuffer> bufferChunks(String name, int maxChunkBytes) {
        if (dequantizedOrNull(name) == null) {
            return raw.bufferChunks(name, maxChunkBytes);
        }
        int chunk = maxChunkBytes / 4 * 4;
        if (chunk <= 0) {
            throw new IllegalArgumentException("maxChunkBytes " + maxChunkBytes + " is smaller than one F32 element");
        }
        ByteBuffer all = buffer(name);
        List<ByteBuffer> out = new ArrayList<>();
        for (int at = 0; at < all.limit(); at += chunk) {
            out.add(all.slice(at, Math.min(chunk, all.limit() - at)).order(ByteOrder.LITTLE_ENDIAN));
        }
        return Collections.unmodifiableList(out);
    }

    @Override
    public float[] toFloatArray(String name) {
        Dequantized d = dequantizedOrNull(name);
        return d == null ? raw.toFloatArray(name) : values(name, d);
    }

    @Override
    public double[] toDoubleArray(String name) {
        Dequantized d = dequantizedOrNull(name);
        if (d == null) {
            return raw.toDoubleArray(name);
        }
        float[] f = values(name, d);
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = f[i];
        }
        return out;
    }

    @Override
    public long[] toLongArray(String name) {
        info(name); // refuses helpers; a presented weight is F32 and refused below like any float tensor
        return TensorSource.super.toLongArray(name);
    }

    @Override
    public int[] toIntArray(String name) {
        info(name);
        return TensorSource.super.toIntArray(name);
    }

    @Override
    public void close() {
        closed = true;
        raw.close();
    }

    @Override
    public String toString() {
        return "DequantizingSource[" + raw + ", " + tensors.size() + " dequantized]";
    }

    /** The plan for {@code name}; null for a plain tensor; throws for a hidden helper. */
    private Dequantized dequantizedOrNull(String name) {
        info(name);
        return tensors.get(name);
    }

    private float[] values(String name, Dequantized d) {
        float[] v = d.values(raw);
        if (v.length != numel(d.shape())) {
            throw new IllegalStateException(name + ": dequantized " + v.length + " values for shape "
                    + Plan.shapeOf(d.shape()));
        }
        return v;
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(raw.description() + ": DequantizingSource is closed");
        }
    }
}
