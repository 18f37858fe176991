package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.pipeline.ContextRows;
import dev.jdiffuse.samplers.Conditioning;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the SD3 MMDiT is conditioned on: the joint text context [B, 77 + L_t5, joint_attention_dim] (CLIP part then
 * T5 part) and the pooled text embedding [B, pooled_projection_dim]. Batched copies made for classifier-free guidance
 * are kept, so each step reuses them instead of concatenating again.
 */
public final class Sd3Conditioning implements Conditioning {

    private final NDArray context;
    private final NDArray pooled;
    private final Map<Conditioning, Sd3Conditioning> batched = new IdentityHashMap<>();

    public Sd3Conditioning(NDArray context, NDArray pooled) {
        this.context = context;
        this.pooled = pooled;
    }

    public NDArray context() {
        return context;
    }

    public NDArray pooled() {
        return pooled;
    }

    @Override
    public synchronized Conditioning concatBatch(Conditioning other) {
        return batched.computeIfAbsent(other, o -> {
            Sd3Conditioning b = (Sd3Conditioning) o;
            return new Sd3Conditioning(context.concat(b.context, 0), pooled.concat(b.pooled, 0));
        });
    }

    /**
     * What must be equal to put two requests' rows in one forward: the context's row shape ([L, D]: the same T5
     * length) and dtype, the pooled embedding's width.
     */
    @Override
    public Object rowLayout() {
        return ContextRows.layout(context, pooled);
    }

    @Override
    public Conditioning concatRows(List<? extends Conditioning> others, NDManager manager) {
        List<Sd3Conditioning> rest = others.stream().map(o -> (Sd3Conditioning) o).toList();
        return new Sd3Conditioning(ContextRows.stack(context, rest.stream().map(c -> c.context).toList(), manager),
                ContextRows.stack(pooled, rest.stream().map(c -> c.pooled).toList(), manager));
    }

    @Override
    public int batchSize() {
        return (int) context.getShape().get(0);
    }
}
