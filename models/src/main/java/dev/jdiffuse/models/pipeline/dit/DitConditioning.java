package dev.jdiffuse.models.pipeline.dit;

import dev.jdiffuse.samplers.Conditioning;

import java.util.Arrays;

/** What DiT is conditioned on besides the sample: one class id per batch row ({@code num_embeds_ada_norm} = null class). */
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
        long[] b = ((DitConditioning) other).labels;
        long[] all = Arrays.copyOf(labels, labels.length + b.length);
        System.arraycopy(b, 0, all, labels.length, b.length);
        return new DitConditioning(all);
    }

    @Override
    public int batchSize() {
        return labels.length;
    }
}
