package dev.jdiffuse.safetensors.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.safetensors.TensorSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * What the formats' readers found in one file: the weights to present dequantized and the helper tensors to hide.
 * Filled from the header (and the small JSON helper tensors) when the file is opened, so an inconsistent file is
 * refused before anything is loaded.
 */
final class Plan {

    private static final ObjectMapper JSON = new ObjectMapper();

    final TensorSource raw;
    final Map<String, Dequantized> tensors = new LinkedHashMap<>();
    final Set<String> hidden = new HashSet<>();
    /** Per format, how many weights it dequantizes (for the log). */
    final Map<String, Integer> counts = new LinkedHashMap<>();

    Plan(TensorSource raw) {
        this.raw = raw;
    }

    boolean isEmpty() {
        return tensors.isEmpty() && hidden.isEmpty();
    }

    void present(String weight, Dequantized d, String format) {
        Dequantized before = tensors.putIfAbsent(weight, d);
        if (before != null) {
            throw error(weight, "is quantized twice: as " + before.format() + " and as " + d.format());
        }
        counts.merge(format, 1, Integer::sum);
    }

    void hide(String helper) {
        hidden.add(helper);
    }

    QuantizedCheckpointException error(String tensor, String what) {
        return new QuantizedCheckpointException(raw.description() + ": tensor '" + tensor + "' " + what);
    }

    /** A U8 tensor holding UTF-8 JSON (ComfyUI's {@code comfy_quant}, bitsandbytes' {@code quant_state}). */
    JsonNode jsonTensor(String name) {
        TensorInfo info = raw.info(name);
        if (info.dtype() != DType.U8 || info.rank() != 1) {
            throw error(name, "should be a 1-d U8 tensor of JSON bytes, is " + info.dtype() + shapeOf(info.shape()));
        }
        ByteBuffer b = raw.buffer(name);
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        try {
            JsonNode node = JSON.readTree(new String(bytes, StandardCharsets.UTF_8));
            if (node == null || !node.isObject()) {
                throw error(name, "does not hold a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw error(name, "does not hold valid JSON: " + e.getMessage());
        }
    }

    /** Parses a JSON string (of the header's metadata). */
    JsonNode json(String what, String text) {
        try {
            JsonNode node = JSON.readTree(text);
            if (node == null || !node.isObject()) {
                throw new QuantizedCheckpointException(raw.description() + ": " + what + " is not a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new QuantizedCheckpointException(raw.description() + ": " + what + " is not valid JSON: "
                    + e.getMessage());
        }
    }

    static String shapeOf(long[] shape) {
        return java.util.Arrays.toString(shape);
    }
}
