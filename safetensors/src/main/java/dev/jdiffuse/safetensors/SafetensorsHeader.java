package dev.jdiffuse.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated JSON header of a safetensors file. The rules follow the reference implementation
 * ({@code safetensors/src/tensor.rs}, {@code Metadata::validate}): the header is UTF-8 JSON, an object whose keys
 * are tensor names (plus the optional {@code "__metadata__"} string-to-string map); each entry has {@code dtype},
 * {@code shape} (non-negative integers) and {@code data_offsets} {@code [begin, end]}; {@code end - begin} equals
 * numel x element size; and the tensors, sorted by offset, tile the data section exactly: no overlap, no gap, and
 * the last one ends at the end of the file.
 *
 * @param tensors  entries in header order
 * @param metadata the {@code __metadata__} block, empty if absent
 */
record SafetensorsHeader(Map<String, TensorInfo> tensors, Map<String, String> metadata) {

    /** The reference implementation's cap on the header length ({@code MAX_HEADER_SIZE}). */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /**
     * Parses {@code header} (the bytes after the 8-byte length) and checks it against a data section of
     * {@code dataLength} bytes. {@code source} names the file in messages.
     */
    static SafetensorsHeader parse(String source, byte[] header, long dataLength) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(header)).toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsException(source + ": header is not valid UTF-8", e);
        }
        if (!text.startsWith("{")) {
            throw new SafetensorsException(source + ": header does not start with '{' (not a safetensors file?)");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(source + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsException(source + ": header is not a JSON object");
        }
        Map<String, String> metadata = Map.of();
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (METADATA_KEY.equals(e.getKey())) {
                metadata = parseMetadata(source, e.getValue());
            } else {
                tensors.put(e.getKey(), parseEntry(source, e.getKey(), e.getValue()));
            }
        }
        checkTiling(source, tensors.values(), dataLength);
        return new SafetensorsHeader(Collections.unmodifiableMap(tensors), metadata);
    }

    private static Map<String, String> parseMetadata(String source, JsonNode node) {
        if (node.isNull()) {
            return Map.of();
        }
        if (!node.isObject()) {
            throw new SafetensorsException(source + ": " + METADATA_KEY + " is not a JSON object");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new SafetensorsException(source + ": " + METADATA_KEY + " value of '" + e.getKey()
                        + "' is not a string (the format allows only string values)");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(out);
    }

    private static TensorInfo parseEntry(String source, String name, JsonNode node) {
        String where = source + ": tensor '" + name + "'";
        if (!node.isObject()) {
            throw new SafetensorsException(where + " entry is not a JSON object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new SafetensorsException(where + " has no string field 'dtype'");
        }
        DType dtype = DType.fromHeaderName(dtypeNode.textValue());
        if (dtype == null) {
            throw new SafetensorsException(where + " has unknown dtype '" + dtypeNode.textValue() + "'");
        }
        long[] shape = nonNegativeLongs(where, "shape", node.get("shape"), -1);
        long[] offsets = nonNegativeLongs(where, "data_offsets", node.get("data_offsets"), 2);
        if (offsets[0] > offsets[1]) {
            throw new SafetensorsException(where + " has data_offsets [" + offsets[0] + ", " + offsets[1]
                    + "] with begin > end");
        }
        long expected;
        try {
            long numel = 1;
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            expected = Math.multiplyExact(numel, (long) dtype.byteSize());
        } catch (ArithmeticException overflow) {
            throw new SafetensorsException(where + " shape " + java.util.Arrays.toString(shape)
                    + " overflows a 64-bit byte count");
        }
        if (offsets[1] - offsets[0] != expected) {
            throw new SafetensorsException(where + " byte size mismatch: shape " + java.util.Arrays.toString(shape)
                    + " of " + dtype + " needs " + expected + " bytes but data_offsets [" + offsets[0] + ", "
                    + offsets[1] + "] span " + (offsets[1] - offsets[0]));
        }
        return new TensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] nonNegativeLongs(String where, String field, JsonNode node, int requiredLength) {
        if (node == null || !node.isArray()) {
            throw new SafetensorsException(where + " has no array field '" + field + "'");
        }
        if (requiredLength >= 0 && node.size() != requiredLength) {
            throw new SafetensorsException(where + " field '" + field + "' has " + node.size() + " values, expected "
                    + requiredLength + " ([begin, end])");
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                throw new SafetensorsException(where + " field '" + field + "' value " + v
                        + " is not an integer that fits in 64 bits");
            }
            out[i] = v.longValue();
            if (out[i] < 0) {
                throw new SafetensorsException(where + " field '" + field + "' has negative value " + out[i]);
            }
        }
        return out;
    }

    private static void checkTiling(String source, Iterable<TensorInfo> entries, long dataLength) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : entries) {
            if (t.end() > dataLength) {
                throw new SafetensorsException(source + ": tensor '" + t.name() + "' data_offsets [" + t.begin() + ", "
                        + t.end() + "] lie past the end of the data section (" + dataLength
                        + " bytes): file truncated or offsets out of range");
            }
            sorted.add(t);
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long covered = 0;
        TensorInfo previous = null;
        for (TensorInfo t : sorted) {
            if (t.begin() < covered) {
                throw new SafetensorsException(source + ": tensor '" + t.name() + "' data_offsets [" + t.begin() + ", "
                        + t.end() + "] overlap tensor '" + previous.name() + "' [" + previous.begin() + ", "
                        + previous.end() + "]");
            }
            if (t.begin() > covered) {
                throw new SafetensorsException(source + ": gap of " + (t.begin() - covered)
                        + " bytes in the data section before tensor '" + t.name() + "' (offsets must tile the data"
                        + " section without holes, as in the reference implementation)");
            }
            covered = t.end();
            previous = t;
        }
        if (covered < dataLength) {
            throw new SafetensorsException(source + ": " + (dataLength - covered)
                    + " trailing bytes after the last tensor are not covered by any tensor (the reference"
                    + " implementation rejects such files)");
        }
    }
}
