package dev.jdiffuse.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files as the reference implementation does: the JSON header (with {@code __metadata__} first
 * when given) is padded with spaces so that the data section starts at a multiple of 8; the data section stores
 * tensors back to back, larger element types first (stable, as the reference orders by alignment) so every tensor
 * is aligned to its element size. The header lists the tensors in the map's iteration order, which is the order
 * {@link SafetensorsFile#names()} returns.
 */
public final class SafetensorsWriter {

    private static final ObjectMapper JSON = new ObjectMapper();

    private SafetensorsWriter() {
    }

    public static void write(Path file, Map<String, TensorData> tensors) {
        write(file, tensors, Map.of());
    }

    /** Writes {@code tensors} (name to data, in header order) and string {@code metadata} to {@code file}. */
    public static void write(Path file, Map<String, TensorData> tensors, Map<String, String> metadata) {
        List<Map.Entry<String, TensorData>> dataOrder = new ArrayList<>(tensors.entrySet());
        dataOrder.sort(Comparator.comparingInt((Map.Entry<String, TensorData> e) -> -e.getValue().dtype().byteSize()));
        Map<String, long[]> offsets = new LinkedHashMap<>();
        long at = 0;
        for (Map.Entry<String, TensorData> e : dataOrder) {
            checkName(e.getKey());
            long size = e.getValue().data().remaining();
            offsets.put(e.getKey(), new long[] {at, at + size});
            at += size;
        }
        byte[] header = header(tensors, metadata, offsets);
        ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(out, prefix);
            writeFully(out, ByteBuffer.wrap(header));
            for (Map.Entry<String, TensorData> e : dataOrder) {
                writeFully(out, e.getValue().data());
            }
        } catch (IOException e) {
            throw new SafetensorsException(file + ": write failed: " + e, e);
        }
    }

    private static byte[] header(Map<String, TensorData> tensors, Map<String, String> metadata,
                                 Map<String, long[]> offsets) {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(SafetensorsHeader.METADATA_KEY);
            metadata.forEach(meta::put);
        }
        tensors.forEach((name, t) -> {
            ObjectNode entry = root.putObject(name);
            entry.put("dtype", t.dtype().headerName());
            ArrayNode shape = entry.putArray("shape");
            Arrays.stream(t.shape()).forEach(shape::add);
            ArrayNode range = entry.putArray("data_offsets");
            range.add(offsets.get(name)[0]);
            range.add(offsets.get(name)[1]);
        });
        byte[] json;
        try {
            json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize header", e);
        }
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void checkName(String name) {
        if (name.isEmpty() || SafetensorsHeader.METADATA_KEY.equals(name)) {
            throw new IllegalArgumentException("invalid tensor name '" + name + "'");
        }
    }

    private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }
}
