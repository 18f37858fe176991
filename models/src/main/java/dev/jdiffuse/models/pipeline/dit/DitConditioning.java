package dev.jdiffuse.models.pipeline.dit;

import ai.djl.ndarray.NDManager;
import dev.jdiffuse.samplers.Conditioning;

import java.util.Arrays;
import java.util.List;

/**
 * What DiT is conditioned on besides the sample: one class id per batch row ({@code num_embeds_ada_norm} = null
 * class), kept on the host as {@code long[B]} (the transformer makes its int64 [B] tensor in the activations' manager).
 */
public final class DitConditioning implements Conditioning {

    private final long[] labels;

    public DitConditioning(long[] labels) {
        this.labels = labels.clone();
    }

    /** The same {@code label} for {@code batch} rows. */
    public static DitConditioning repeated(long label, int batch) {
        long[] l = new long[batch];
        Arrays.fill(l, label);
        return new DitConditioning(l);
    }

    public long[] labels() {
        return labels.clone();
    }

    @Override
    public Conditioning concatBatch(Conditioning other) {
        return concatRows(List.of(other), null);
    }

    @Override
    public int batchSize() {
        return labels.length;
    }

    /**
     * Any two DiT conditionings can share a forward: a row is one int64 class id and nothing else (no context length,
     * no pooled width, no extras), and the transformer treats rows independently. Whether a request is guided only
     * changes how many rows it brings (2B instead of B, class rows then null-class rows), which the batcher handles;
     * the latent shape and dtype are compared by the batcher itself.
     */
    @Override
    public Object rowLayout() {
        return RowLayout.CLASS_ID_PER_ROW;
    }

    /** The one row layout of DiT's conditioning. */
    enum RowLayout {
        CLASS_ID_PER_ROW
    }

    /**
     * Labels of {@code this}, then of each of {@code others}, in order. Host arrays only, so {@code manager} owns
     * nothing and may be null.
     */
    @Override
    public Conditioning concatRows(List<? extends Conditioning> others, NDManager manager) {
        int rows = labels.length;
        for (Conditioning o : others) {
            rows += ((DitConditioning) o).labels.length;
        }
        long[] all = Arrays.copyOf(labels, rows);
        int at = labels.length;
        for (Conditioning o : others) {
            long[] l = ((DitConditioning) o).labels;
            System.arraycopy(l, 0, all, at, l.length);
            at += l.length;
        }
        return new DitConditioning(all);
    }
}
