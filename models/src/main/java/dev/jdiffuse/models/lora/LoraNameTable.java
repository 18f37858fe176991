package dev.jdiffuse.models.lora;

import java.util.List;

/**
 * A family's LoRA layer names that are not paths of its own modules: layers of weights that the original model fuses
 * and the diffusers one keeps apart (FLUX's {@code double_blocks.i.img_attn.qkv}), or keeps in another row order.
 */
@FunctionalInterface
public interface LoraNameTable {

    /**
     * The modules a layer adapts.
     *
     * @param modules dotted module paths under the layer's target; the layer's output rows are theirs stacked in this
     *     order (one path: the module whole)
     * @param swappedHalves (one module only) the layer's output is the module's with its two row halves swapped, as
     *     BFL's {@code final_layer.adaLN_modulation.1} (shift, scale) is diffusers' {@code norm_out.linear}
     *     (scale, shift)
     */
    record Entry(List<String> modules, boolean swappedHalves) {

        public Entry {
            modules = List.copyOf(modules);
            if (modules.isEmpty() || (swappedHalves && modules.size() != 1)) {
                throw new IllegalArgumentException("one module to swap, or one or more to stack: " + modules);
            }
        }

        /** The layer adapts these modules, its rows split among them in order. */
        public static Entry stacked(String... modules) {
            return new Entry(List.of(modules), false);
        }
    }

    /**
     * The modules the layer {@code name} (an underscored, kohya-style name) of {@code target} adapts, or null when the
     * table does not know it.
     */
    Entry lookup(String target, String name);
}
