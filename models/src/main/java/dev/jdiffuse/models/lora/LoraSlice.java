package dev.jdiffuse.models.lora;

import dev.jdiffuse.models.nn.Parameter;

import java.util.List;

/**
 * One weight a LoRA layer adapts and which rows of the layer's {@code up} make its delta: the weight's delta is
 * {@code (alpha / rank) up[rows] @ down}, {@code up[rows]} being the listed row ranges of {@code up} stacked in order.
 * A plain layer has one slice, all of {@code up}'s rows. A layer of a fused weight that the model keeps as several
 * (FLUX's {@code img_attn.qkv} as {@code to_q}, {@code to_k}, {@code to_v}) has one slice per weight, its rows of
 * {@code up} taken in the fused weight's row order, {@code down} shared: the fused delta
 * {@code up @ down} is exactly the stacked deltas {@code up[rows_i] @ down}.
 *
 * @param weight the adapted weight [out, in(, kh, kw)]
 * @param upRows row ranges of {@code up}, stacked in order; their rows add up to the weight's {@code out}
 */
public record LoraSlice(Parameter weight, List<Rows> upRows) {

    /** Rows {@code [start, start + count)}. */
    public record Rows(long start, long count) {
    }

    public LoraSlice {
        upRows = List.copyOf(upRows);
    }

    /** A layer that adapts {@code weight} whole: all of its {@code rows} rows of {@code up}. */
    public static LoraSlice whole(Parameter weight, long rows) {
        return new LoraSlice(weight, List.of(new Rows(0, rows)));
    }

    /** Rows of {@code up} this slice takes. */
    public long rows() {
        return upRows.stream().mapToLong(Rows::count).sum();
    }

    /** Whether it takes {@code up} whole and in order ({@code rows} being {@code up}'s row count). */
    public boolean isWhole(long rows) {
        return upRows.size() == 1 && upRows.get(0).start() == 0 && upRows.get(0).count() == rows;
    }
}
