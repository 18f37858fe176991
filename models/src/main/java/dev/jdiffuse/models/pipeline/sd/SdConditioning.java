package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.unet.TextContext;
import dev.jdiffuse.models.unet.UNetExtras;
import dev.jdiffuse.samplers.Conditioning;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a Stable Diffusion UNet is conditioned on: the text context [B, 77, D] and, for SDXL, the pooled text embedding
 * [B, P] and the size/crop ids [B, 6]; ControlNet residuals are added per call by {@link ControlNetDenoiser}. The
 * text context's key/value projections are made once per request ({@link TextContext}).
 * Batched copies made for classifier-free guidance are kept, so each step reuses them instead of concatenating again.
 */
public final class SdConditioning implements Conditioning {

    private final TextContext context;
    private final NDArray textEmbeds;
    private final NDArray timeIds;
    private final List<NDArray> controlDown;
    private final NDArray controlMid;
    private final Map<Conditioning, SdConditioning> batched = new IdentityHashMap<>();

    public SdConditioning(NDArray context, NDArray textEmbeds, NDArray timeIds) {
        this(TextContext.of(context), textEmbeds, timeIds, null, null);
    }

    private SdConditioning(TextContext context, NDArray textEmbeds, NDArray timeIds, List<NDArray> controlDown,
            NDArray controlMid) {
        this.context = context;
        this.textEmbeds = textEmbeds;
        this.timeIds = timeIds;
        this.controlDown = controlDown;
        this.controlMid = controlMid;
    }

    /** The text context, with the cross-attention projections cached for the request's steps. */
    public TextContext context() {
        return context;
    }

    /** The UNet's extra inputs (SDXL ids, ControlNet residuals). */
    public UNetExtras extras() {
        return new UNetExtras(textEmbeds, timeIds, controlDown, controlMid);
    }

    /** These conditions with ControlNet residuals added (summed with any already present, as MultiControlNet). */
    public SdConditioning plusControl(List<NDArray> down, NDArray mid) {
        if (controlDown == null) {
            return new SdConditioning(context, textEmbeds, timeIds, down, mid);
        }
        List<NDArray> sum = new ArrayList<>(down.size());
        for (int i = 0; i < down.size(); i++) {
            sum.add(controlDown.get(i).add(down.get(i)));
        }
        return new SdConditioning(context, textEmbeds, timeIds, sum, controlMid.add(mid));
    }

    @Override
    public synchronized Conditioning concatBatch(Conditioning other) {
        return batched.computeIfAbsent(other, o -> {
            SdConditioning b = (SdConditioning) o;
            return new SdConditioning(TextContext.of(context.hidden().concat(b.context.hidden(), 0)),
                    textEmbeds == null ? null : textEmbeds.concat(b.textEmbeds, 0),
                    timeIds == null ? null : timeIds.concat(b.timeIds, 0), null, null);
        });
    }

    /**
     * Text context, pooled and ids shapes without the batch axis, the context's dtype, and how many ControlNet
     * residuals there are (-1: none), so that rows of different requests can be concatenated.
     */
    @Override
    public Object rowLayout() {
        return new RowLayout(rowShape(context.hidden()), context.hidden().getDataType(), rowShape(textEmbeds),
                rowShape(timeIds), controlDown == null ? -1 : controlDown.size());
    }

    record RowLayout(Shape context, DataType dtype, Shape pooled, Shape timeIds, int controlResiduals) {
    }

    private static Shape rowShape(NDArray a) {
        return a == null ? null : a.getShape().slice(1);
    }

    @Override
    public Conditioning concatRows(List<? extends Conditioning> others, NDManager manager) {
        List<SdConditioning> all = new ArrayList<>();
        all.add(this);
        others.forEach(o -> all.add((SdConditioning) o));
        NDArray hidden = rows(all, c -> c.context.hidden(), manager);
        NDArray pooled = textEmbeds == null ? null : rows(all, c -> c.textEmbeds, manager);
        NDArray ids = timeIds == null ? null : rows(all, c -> c.timeIds, manager);
        List<NDArray> down = null;
        NDArray mid = null;
        if (controlDown != null) {
            down = new ArrayList<>();
            for (int i = 0; i < controlDown.size(); i++) {
                int k = i;
                down.add(rows(all, c -> c.controlDown.get(k), manager));
            }
            mid = rows(all, c -> c.controlMid, manager);
        }
        return new SdConditioning(TextContext.of(hidden), pooled, ids, down, mid);
    }

    private static NDArray rows(List<SdConditioning> parts, java.util.function.Function<SdConditioning, NDArray> field,
            NDManager manager) {
        NDList list = new NDList();
        parts.forEach(p -> list.add(field.apply(p)));
        NDArray out = NDArrays.concat(list, 0);
        out.attach(manager);
        return out;
    }

    @Override
    public int batchSize() {
        return (int) context.hidden().getShape().get(0);
    }
}
