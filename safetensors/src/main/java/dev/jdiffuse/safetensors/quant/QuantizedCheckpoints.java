package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.TensorSource;

import java.util.stream.Collectors;

/**
 * Presents quantized safetensors checkpoints dequantized, so the ordinary loaders read them:
 * ComfyUI's FP8 files, the "scaled fp8" layout and the 2025 mixed-precision one, and FP8 weights with a
 * {@code weight_scale} beside them ({@link ComfyFp8}), and
 * bitsandbytes 4-bit NF4 / FP4 files ({@link BitsAndBytes4bit}). Plain FP8 tensors need nothing here (they are
 * widened on load). Detection looks only for the formats' own markers (a {@code scaled_fp8} tensor, {@code comfy_quant}
 * tensors or {@code _quantization_metadata}, an FP8 weight with a {@code weight_scale}, {@code quant_state.bitsandbytes__*}
 * tensors), so an ordinary file is
 * returned as the very same source.
 */
public final class QuantizedCheckpoints {

    private static final System.Logger LOG = System.getLogger(QuantizedCheckpoints.class.getName());

    private QuantizedCheckpoints() {
    }

    /**
     * {@code raw} itself when it holds no quantized weights, else a {@link DequantizingSource} over it. The whole
     * quantization layout is checked here, from the header and the small JSON tensors: a damaged or unsupported file
     * throws {@link QuantizedCheckpointException} naming the tensor, and {@code raw} is closed.
     */
    public static TensorSource dequantizing(TensorSource raw) {
        try {
            Plan p = new Plan(raw);
            ComfyFp8.planScaled(p);
            ComfyFp8.planMixed(p);
            ComfyFp8.planBare(p);
            BitsAndBytes4bit.plan(p);
            if (p.isEmpty()) {
                return raw;
            }
            LOG.log(System.Logger.Level.INFO, "{0}: dequantizing {1}", raw.description(), p.counts.entrySet().stream()
                    .map(e -> e.getValue() + " " + e.getKey() + " weights").collect(Collectors.joining(", ")));
            return new DequantizingSource(raw, p.tensors, p.hidden);
        } catch (RuntimeException e) {
            raw.close();
            throw e;
        }
    }
}
