package dev.jdiffuse.safetensors.quant;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.safetensors.DType;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ComfyUI's FP8 checkpoints, both generations (read from ComfyUI's {@code comfy/utils.py convert_old_quants},
 * {@code comfy/ops.py} and {@code comfy/quant_ops.py TensorCoreFP8Layout.dequantize}):
 * <ul>
 *   <li><b>"scaled fp8"</b> ({@code t5xxl_fp8_e4m3fn_scaled.safetensors}, {@code flux1-dev-fp8-scaled},
 *       {@code sd3.5_large_fp8_scaled.safetensors}): a marker tensor {@code <prefix>scaled_fp8} (empty, or 2 elements
 *       for "full precision matmul"; its dtype is the FP8 type) for each component, and beside every scaled layer's
 *       FP8 {@code <layer>.weight} a float {@code <layer>.scale_weight}: weight = fp8 x scale_weight. The optional
 *       {@code <layer>.scale_input} only matters to an FP8 matmul and is dropped. A layer under a marker without
 *       {@code scale_weight} is used as stored (ComfyUI's default scale is 1); one with {@code scale_input} but no
 *       {@code scale_weight} is refused as damaged.</li>
 *   <li><b>mixed precision</b> (ComfyUI 2025): per layer a {@code <layer>.comfy_quant} U8 tensor of JSON
 *       ({@code {"format": "float8_e4m3fn"}}), or the same per-layer table in the header's {@code __metadata__}
 *       entry {@code _quantization_metadata} ({@code {"layers": {"<layer>": {...}}}}); FP8 layers carry a scalar
 *       {@code <layer>.weight_scale} (and an optional {@code input_scale}, dropped): weight = fp8 x weight_scale.
 *       Other formats (e.g. {@code nvfp4}) are refused naming the layer.</li>
 *   <li>the same {@code weight_scale} beside an FP8 weight without ComfyUI's table ({@link #planBare}).</li>
 * </ul>
 */
final class ComfyFp8 {

    static final String MARKER = "scaled_fp8";
    static final String SCALE_WEIGHT = ".scale_weight";
    static final String SCALE_INPUT = ".scale_input";
    static final String COMFY_QUANT = ".comfy_quant";
    static final String METADATA_KEY = "_quantization_metadata";
    static final String LEGACY = "ComfyUI scaled fp8";
    static final String MIXED = "ComfyUI mixed-precision fp8";
    static final String BARE = "fp8 with weight_scale";

    private ComfyFp8() {
    }

    /** The legacy "scaled fp8" layout. */
    static void planScaled(Plan p) {
        List<String> prefixes = new ArrayList<>();
        for (String n : p.raw.names()) {
            if ((n.equals(MARKER) || n.endsWith("." + MARKER)) && p.raw.info(n).numel() <= 2) {
                prefixes.add(n.substring(0, n.length() - MARKER.length()));
                p.hide(n);
            }
        }
        if (prefixes.isEmpty()) {
            return; // a scale_weight without a marker is not ComfyUI's format: left as it is
        }
        for (String n : p.raw.names()) {
            if (n.endsWith(SCALE_WEIGHT) && under(prefixes, n)) {
                String layer = n.substring(0, n.length() - SCALE_WEIGHT.length());
                p.present(layer + ".weight", ScaledWeight.of(p, layer + ".weight", n, LEGACY, true), LEGACY);
                p.hide(n);
            } else if (n.endsWith(SCALE_INPUT) && under(prefixes, n)) {
                String layer = n.substring(0, n.length() - SCALE_INPUT.length());
                if (!p.raw.contains(layer + SCALE_WEIGHT)) {
                    throw p.error(n, "marks layer '" + layer + "' as scaled fp8 (" + LEGACY + ") but its weight scale '"
                            + layer + SCALE_WEIGHT + "' is missing: the file is damaged or was converted incompletely");
                }
                p.hide(n);
            }
        }
    }

    private static boolean under(List<String> prefixes, String name) {
        return prefixes.stream().anyMatch(name::startsWith);
    }

    /** The 2025 mixed-precision layout: {@code comfy_quant} tensors and / or {@code _quantization_metadata}. */
    static void planMixed(Plan p) {
        Map<String, JsonNode> layers = new LinkedHashMap<>();
        Map<String, String> where = new LinkedHashMap<>();
        String meta = p.raw.metadata().get(METADATA_KEY);
        if (meta != null) {
            JsonNode table = p.json("__metadata__." + METADATA_KEY, meta).get("layers");
            if (table == null || !table.isObject()) {
                throw new QuantizedCheckpointException(p.raw.description() + ": __metadata__." + METADATA_KEY
                        + " has no \"layers\" object");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = table.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                layers.put(e.getKey(), e.getValue());
                where.put(e.getKey(), "__metadata__." + METADATA_KEY + " layer '" + e.getKey() + "'");
            }
        }
        for (String n : p.raw.names()) {
            if (n.endsWith(COMFY_QUANT)) {
                String layer = n.substring(0, n.length() - COMFY_QUANT.length());
                layers.put(layer, p.jsonTensor(n)); // as in ComfyUI, the tensor wins over the header's table
                where.put(layer, n);
                p.hide(n);
            }
        }
        layers.forEach((layer, conf) -> plan(p, layer, conf, where.get(layer)));
    }

    /**
     * An FP8 {@code <layer>.weight} with a float {@code <layer>.weight_scale} beside it and no per-layer table (the
     * spelling of files converted outside ComfyUI, e.g. diffusers' / compressed-tensors' per-tensor or per-channel FP8):
     * the same dequantization, fp8 x weight_scale. Only FP8 weights are concerned, so an ordinary file, which has no
     * FP8 weight with such a scale, is never touched.
     */
    static void planBare(Plan p) {
        for (String n : p.raw.names()) {
            if (!n.endsWith(".weight_scale") || p.hidden.contains(n)) {
                continue;
            }
            String layer = n.substring(0, n.length() - ".weight_scale".length());
            String weight = layer + ".weight";
            if (p.raw.contains(weight) && isFp8(p.raw.info(weight).dtype())) {
                p.present(weight, ScaledWeight.of(p, weight, n, BARE, true), BARE);
                p.hide(n);
                p.hide(layer + ".input_scale");
            }
        }
    }

    private static boolean isFp8(DType d) {
        return d == DType.F8_E4M3 || d == DType.F8_E5M2;
    }

    private static void plan(Plan p, String layer, JsonNode conf, String source) {
        String format = conf.isTextual() ? conf.asText() : conf.path("format").asText(null);
        DType stored = "float8_e4m3fn".equals(format) ? DType.F8_E4M3
                : "float8_e5m2".equals(format) ? DType.F8_E5M2 : null;
        if (stored == null) {
            throw p.error(source, "quantizes layer '" + layer + "' as " + (format == null ? "(no \"format\")"
                    : "'" + format + "'") + ", which is not supported: jdiffuse reads ComfyUI's float8_e4m3fn and "
                    + "float8_e5m2 layers (one scale per tensor); dequantize the file or use its fp16/bf16 release");
        }
        String weight = layer + ".weight";
        String scale = layer + ".weight_scale";
        if (!p.raw.contains(weight)) {
            throw p.error(source, "quantizes layer '" + layer + "' as " + format + " but the file has no '" + weight
                    + "'");
        }
        if (!p.raw.contains(scale)) {
            throw p.error(weight, "is " + format + " (" + source + ") but its scale '" + scale + "' is missing");
        }
        if (p.raw.info(weight).dtype() != stored) {
            throw p.error(weight, "is " + p.raw.info(weight).dtype() + " but " + source + " says " + format);
        }
        p.present(weight, ScaledWeight.of(p, weight, scale, MIXED, false), MIXED);
        p.hide(scale);
        p.hide(layer + ".input_scale");
    }
}
