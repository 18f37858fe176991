package dev.jdiffuse.safetensors.quant;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.safetensors.TensorSource;

import java.util.List;

/**
 * A bitsandbytes 4-bit weight (NF4 or FP4) as {@code QuantState.as_dict(packed=True)} saves it (transformers,
 * diffusers, Forge's {@code flux1-dev-bnb-nf4(-v2)}): beside the packed {@code <w>} (U8, usually shape
 * {@code [ceil(n/2), 1]}) lie {@code <w>.absmax} (one per block), {@code <w>.quant_map} (the 16 code values),
 * {@code <w>.quant_state.bitsandbytes__<nf4|fp4>} (U8 JSON: {@code quant_type}, {@code blocksize}, {@code dtype},
 * {@code shape}) and, when the absmax values are themselves quantized ("double quantization"),
 * {@code <w>.nested_absmax}, {@code <w>.nested_quant_map} (256 values) and {@code nested_blocksize},
 * {@code nested_offset} in the JSON.
 *
 * <p>Dequantization (bitsandbytes {@code functional.dequantize_4bit} and its kernels):
 * <pre>
 *   absmax[b] = nested ? nested_quant_map[absmax_u8[b]] * nested_absmax[b / nested_blocksize] + nested_offset
 *                      : absmax[b]
 *   q[2i] = packed[i] >> 4,  q[2i+1] = packed[i] & 0xF          (high nibble first; an odd count pads the last)
 *   w[j]  = quant_map[q[j]] * absmax[j / blocksize]              (float32), reshaped to quant_state.shape
 * </pre>
 * The packed bytes are read whatever their stored dtype ({@code quant_storage} may be e.g. BF16). A packed tensor of
 * shape {@code [1, m]} is bitsandbytes' transposed layout and is refused.
 */
record BitsAndBytes4bit(String weight, long[] shape, String quantType, int blocksize, boolean nested,
                        int nestedBlocksize, float nestedOffset) implements Dequantized {

    static final String QUANT_STATE = ".quant_state.bitsandbytes__";
    static final String FORMAT = "bitsandbytes 4-bit";
    static final List<String> HELPERS = List.of(".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map");

    static void plan(Plan p) {
        for (String n : p.raw.names()) {
            int at = n.indexOf(QUANT_STATE);
            if (at > 0 && n.indexOf('.', at + QUANT_STATE.length()) < 0) {
                String weight = n.substring(0, at);
                BitsAndBytes4bit d = of(p, weight, n, n.substring(at + QUANT_STATE.length()));
                p.present(weight, d, FORMAT + " " + d.quantType);
                p.hide(n);
                for (String h : HELPERS) {
                    p.hide(weight + h);
                }
            }
        }
        for (String n : p.raw.names()) {
            if (n.endsWith(".SCB") && p.raw.contains(n.substring(0, n.length() - 4) + ".weight")) {
                throw p.error(n, "belongs to a bitsandbytes 8-bit (LLM.int8) layer, which is not supported; "
                        + "use the file's fp16/bf16 or 4-bit release");
            }
            for (String h : HELPERS) {
                String base = n.endsWith(h) ? n.substring(0, n.length() - h.length()) : null;
                if (base != null && !p.tensors.containsKey(base) && p.raw.contains(base)
                        && p.raw.info(base).dtype() == DType.U8) {
                    throw p.error(base, "has bitsandbytes helper '" + n + "' but no '" + base + QUANT_STATE
                            + "nf4' (or fp4) state: cannot tell its shape and block size");
                }
            }
        }
    }

    /** Reads and cross-checks the quant state of {@code weight} (the header sizes against the JSON). */
    private static BitsAndBytes4bit of(Plan p, String weight, String stateName, String suffix) {
        JsonNode s = p.jsonTensor(stateName);
        String type = s.path("quant_type").asText("");
        if (!type.equals(suffix) || !(type.equals("nf4") || type.equals("fp4"))) {
            throw p.error(stateName, "has quant_type '" + type + "'; expected '" + suffix + "' (nf4 or fp4)");
        }
        if (!p.raw.contains(weight)) {
            throw p.error(stateName, "is the state of '" + weight + "', which the file does not hold");
        }
        JsonNode shapeNode = s.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw p.error(stateName, "has no \"shape\" list");
        }
        long[] shape = new long[shapeNode.size()];
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0 || !shapeNode.get(i).canConvertToLong()) {
                throw p.error(stateName, "has a bad shape " + shapeNode);
            }
            n = Math.multiplyExact(n, shape[i]);
        }
        int blocksize = positiveInt(p, stateName, s, "blocksize");
        TensorInfo packed = p.raw.info(weight);
        long[] ps = packed.shape();
        if (ps.length == 2 && ps[0] == 1 && ps[1] > 1) {
            throw p.error(weight, "is packed as " + Plan.shapeOf(ps) + ", bitsandbytes' transposed layout, which is "
                    + "not supported");
        }
        if (packed.byteSize() != (n + 1) / 2) {
            throw p.error(weight, "holds " + packed.byteSize() + " packed bytes but its quant_state shape "
                    + shapeNode + " needs " + (n + 1) / 2 + " (two 4-bit values a byte)");
        }
        long blocks = (n + blocksize - 1) / blocksize;
        requireCount(p, weight + ".quant_map", 16, true);
        boolean nested = p.raw.contains(weight + ".nested_absmax") || s.has("nested_offset");
        requireCount(p, weight + ".absmax", blocks, !nested);
        int nestedBlocksize = 0;
        float offset = 0;
        if (nested) {
            if (p.raw.info(weight + ".absmax").dtype() != DType.U8) {
                throw p.error(weight + ".absmax", "should be U8 (double-quantized absmax), is "
                        + p.raw.info(weight + ".absmax").dtype());
            }
            nestedBlocksize = positiveInt(p, stateName, s, "nested_blocksize");
            JsonNode off = s.get("nested_offset");
            if (off == null || !off.isNumber()) {
                throw p.error(stateName, "has nested_absmax but no numeric \"nested_offset\"");
            }
            offset = (float) off.asDouble(); // bitsandbytes: torch.tensor(float(nested_offset)), float32
            requireCount(p, weight + ".nested_quant_map", 256, true);
            requireCount(p, weight + ".nested_absmax", (blocks + nestedBlocksize - 1) / nestedBlocksize, true);
        }
        return new BitsAndBytes4bit(weight, shape, type, blocksize, nested, nestedBlocksize, offset);
    }

    private static int positiveInt(Plan p, String stateName, JsonNode s, String field) {
        JsonNode v = s.get(field);
        if (v == null || !v.canConvertToInt() || v.asInt() <= 0) {
            throw p.error(stateName, "has no positive integer \"" + field + "\" (" + v + ")");
        }
        return v.asInt();
    }

    private static void requireCount(Plan p, String name, long count, boolean isFloat) {
        if (!p.raw.contains(name)) {
            throw p.error(name, "is missing (bitsandbytes 4-bit state)");
        }
        TensorInfo i = p.raw.info(name);
        if (i.numel() != count) {
            throw p.error(name, "has " + i.numel() + " elements, expected " + count);
        }
        if (isFloat && !i.dtype().isFloatingPoint()) {
            throw p.error(name, "should be a float tensor, is " + i.dtype());
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public String format() {
        return FORMAT + " " + quantType;
    }

    @Override
    public float[] values(TensorSource raw) {
        float[] code = raw.toFloatArray(weight + ".quant_map");
        float[] absmax = nested
                ? dequantizeBlockwise(Bytes.of(raw, weight + ".absmax"), raw.toFloatArray(weight + ".nested_quant_map"),
                        raw.toFloatArray(weight + ".nested_absmax"), nestedBlocksize, nestedOffset)
                : raw.toFloatArray(weight + ".absmax");
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return dequantize4bit(Bytes.of(raw, weight), code, absmax, blocksize, Math.toIntExact(n));
    }

    /**
     * bitsandbytes {@code dequantize_blockwise} (8-bit codes, used for the nested absmax) plus the offset:
     * {@code out[i] = code[q[i]] * absmax[i / blocksize] + offset}, each step in float32.
     */
    static float[] dequantizeBlockwise(byte[] q, float[] code, float[] absmax, int blocksize, float offset) {
        float[] out = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            out[i] = code[q[i] & 0xff] * absmax[i / blocksize] + offset;
        }
        return out;
    }

    /**
     * bitsandbytes {@code dequantize_4bit}: high nibble first, {@code code[q] * absmax[j / blocksize]}; per block the
     * 16 products are formed once (the same float products).
     */
    static float[] dequantize4bit(byte[] packed, float[] code, float[] absmax, int blocksize, int n) {
        float[] out = new float[n];
        int blocks = (int) (((long) n + blocksize - 1) / blocksize);
        Chunks.forEach(blocks, blocksize, (fromBlock, toBlock) -> {
            float[] table = new float[16];
            for (int blk = fromBlock; blk < toBlock; blk++) {
                float a = absmax[blk];
                for (int c = 0; c < 16; c++) {
                    table[c] = code[c] * a;
                }
                for (int j = blk * blocksize, end = (int) Math.min(n, (long) j + blocksize); j < end; j++) {
                    int b = packed[j >> 1] & 0xff;
                    out[j] = table[(j & 1) == 0 ? b >>> 4 : b & 0xf];
                }
            }
        });
        return out;
    }
}
