package dev.jdiffuse.models.pipeline.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.pipeline.ContextRows;
import dev.jdiffuse.samplers.Conditioning;

import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.List;

/**
 * What the FLUX transformer is conditioned on: the T5 context [B, L, joint_attention_dim], the pooled CLIP-L
 * embedding [B, pooled_projection_dim] and, per row, the distilled guidance scale (read only by guidance-embedding
 * models). The guidance lives on the host: it becomes a sinusoid there, like the timestep, so requests with
 * different scales still share one forward.
 */
public final class FluxConditioning implements Conditioning {

    private final NDArray context;
    private final NDArray pooled;
    private final double[] guidance;
    private final Map<Conditioning, FluxConditioning> batched = new IdentityHashMap<>();

    /** @param guidance one value per row of {@code context} */
    public FluxConditioning(NDArray context, NDArray pooled, double[] guidance) {
        if (guidance.length != context.getShape().get(0)) {
            throw new IllegalArgumentException(guidance.length + " guidance values for " + context.getShape().get(0)
                    + " rows");
        }
        this.context = context;
        this.pooled = pooled;
        this.guidance = guidance.clone();
    }

    public NDArray context() {
        return context;
    }

    public NDArray pooled() {
        return pooled;
    }

    /** The distilled guidance scale of each row. */
    public double[] guidance() {
        return guidance.clone();
    }

    /** Cached per partner: true CFG asks for the same [negative; positive] rows at every step. */
    @Override
    public synchronized Conditioning concatBatch(Conditioning other) {
        return batched.computeIfAbsent(other, x -> {
            FluxConditioning o = (FluxConditioning) x;
            return new FluxConditioning(context.concat(o.context, 0), pooled.concat(o.pooled, 0), concat(guidance,
                    o.guidance));
        });
    }

    /** The context's row shape (the same T5 length) and dtype, and the pooled width. */
    @Override
    public Object rowLayout() {
        return ContextRows.layout(context, pooled);
    }

    @Override
    public Conditioning concatRows(List<? extends Conditioning> others, NDManager manager) {
        List<FluxConditioning> rest = others.stream().map(o -> (FluxConditioning) o).toList();
        double[] g = guidance;
        for (FluxConditioning f : rest) {
            g = concat(g, f.guidance);
        }
        return new FluxConditioning(ContextRows.stack(context, rest.stream().map(f -> f.context).toList(), manager),
                ContextRows.stack(pooled, rest.stream().map(f -> f.pooled).toList(), manager), g);
    }

    @Override
    public int batchSize() {
        return (int) context.getShape().get(0);
    }

    private static double[] concat(double[] a, double[] b) {
        double[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
