package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
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
        return new RowLayout(context.getShape().slice(1), context.getDataType(), pooled.getShape().slice(1));
    }

    record RowLayout(Shape context, DataType dtype, Shape pooled) {
    }

    @Override
    public Conditioning concatRows(List<? extends Conditioning> others, NDManager manager) {
        NDList contexts = new NDList(context);
        NDList pooleds = new NDList(pooled);
        for (Conditioning o : others) {
            contexts.add(((Sd3Conditioning) o).context);
            pooleds.add(((Sd3Conditioning) o).pooled);
        }
        NDArray c = NDArrays.concat(contexts, 0);
        NDArray p = NDArrays.concat(pooleds, 0);
        c.attach(manager);
        p.attach(manager);
        return new Sd3Conditioning(c, p);
    }

    @Override
    public int batchSize() {
        return (int) context.getShape().get(0);
    }
}
