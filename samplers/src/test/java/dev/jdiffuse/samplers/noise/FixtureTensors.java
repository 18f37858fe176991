package dev.jdiffuse.samplers.noise;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Minimal read-only safetensors reader for the F32 fixture tensors of this package's tests (8-byte little-endian
 * header length, JSON header {@code {name: {dtype, shape, data_offsets}}}, then the data). Stands in until the
 * {@code safetensors} module's {@code SafetensorsFile} is on main.
 */
final class FixtureTensors {

    private final ByteBuffer data;
    private final JsonNode header;

    private FixtureTensors(ByteBuffer data, JsonNode header) {
        this.data = data;
        this.header = header;
    }

    static FixtureTensors open(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer all = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = Math.toIntExact(all.getLong(0));
        JsonNode header = new ObjectMapper().readTree(new String(bytes, 8, headerLength, StandardCharsets.UTF_8));
        ByteBuffer body = all.position(8 + headerLength).slice().order(ByteOrder.LITTLE_ENDIAN);
        return new FixtureTensors(body, header);
    }

    List<String> names() {
        List<String> names = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            String name = it.next().getKey();
            if (!name.equals("__metadata__")) {
                names.add(name);
            }
        }
        return names;
    }

    long[] shape(String name) {
        JsonNode dims = entry(name).get("shape");
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = dims.get(i).asLong();
        }
        return shape;
    }

    float[] toFloatArray(String name) {
        JsonNode entry = entry(name);
        if (!"F32".equals(entry.get("dtype").asText())) {
            throw new IllegalArgumentException(name + " is " + entry.get("dtype").asText() + ", expected F32");
        }
        int begin = Math.toIntExact(entry.get("data_offsets").get(0).asLong());
        int end = Math.toIntExact(entry.get("data_offsets").get(1).asLong());
        float[] values = new float[(end - begin) / Float.BYTES];
        data.slice(begin, end - begin).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    private JsonNode entry(String name) {
        JsonNode entry = header.get(name);
        if (entry == null) {
            throw new IllegalArgumentException("no tensor " + name);
        }
        return entry;
    }
}
