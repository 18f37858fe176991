package dev.jdiffuse.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A sharded checkpoint: the {@code *.safetensors.index.json} written by {@code save_pretrained}
 * ({@code {"metadata": {...}, "weight_map": {tensor name: shard file name}}}) and its shard files, seen as one
 * {@link TensorSource}. Shard names resolve relative to the index's folder and may not leave it. {@link #open}
 * checks that every shard exists and holds every name mapped to it; names are the weight map's, in its order.
 * Index metadata values that are not strings (e.g. {@code total_size}) are given as their JSON text.
 */
public final class ShardedSafetensors implements TensorSource {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path index;
    private final Map<String, String> metadata;
    private final Map<String, SafetensorsFile> fileOf;
    private final List<SafetensorsFile> shards;
    private volatile boolean closed;

    private ShardedSafetensors(Path index, Map<String, String> metadata, Map<String, SafetensorsFile> fileOf,
                               List<SafetensorsFile> shards) {
        this.index = index;
        this.metadata = metadata;
        this.fileOf = fileOf;
        this.shards = shards;
    }

    /** Opens the index {@code indexJson} and all its shards. */
    public static ShardedSafetensors open(Path indexJson) {
        JsonNode root;
        try {
            root = JSON.readTree(indexJson.toFile());
        } catch (IOException e) {
            throw new SafetensorsException(indexJson + ": cannot read index: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsException(indexJson + ": index is not a JSON object");
        }
        JsonNode weightMap = root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new SafetensorsException(indexJson + ": index has no object 'weight_map'");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        JsonNode meta = root.get("metadata");
        if (meta != null && meta.isObject()) {
            meta.fields().forEachRemaining(e -> metadata.put(e.getKey(),
                    e.getValue().isTextual() ? e.getValue().textValue() : e.getValue().toString()));
        }
        Path dir = indexJson.toAbsolutePath().normalize().getParent();
        Map<String, SafetensorsFile> opened = new LinkedHashMap<>();
        Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
        try {
            for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!e.getValue().isTextual()) {
                    throw new SafetensorsException(indexJson + ": weight_map value of '" + e.getKey()
                            + "' is not a file name");
                }
                String shardName = e.getValue().textValue();
                SafetensorsFile shard = opened.get(shardName);
                if (shard == null) {
                    shard = SafetensorsFile.open(resolveShard(indexJson, dir, shardName));
                    opened.put(shardName, shard);
                }
                if (!shard.contains(e.getKey())) {
                    throw new SafetensorsException(indexJson + ": tensor '" + e.getKey() + "' is mapped to "
                            + shardName + ", which does not contain it");
                }
                fileOf.put(e.getKey(), shard);
            }
        } catch (RuntimeException e) {
            opened.values().forEach(SafetensorsFile::close);
            throw e;
        }
        return new ShardedSafetensors(indexJson, Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(fileOf), List.copyOf(opened.values()));
    }

    private static Path resolveShard(Path indexJson, Path dir, String shardName) {
        Path shard = dir.resolve(shardName).normalize();
        if (!shard.startsWith(dir)) {
            throw new SafetensorsException(indexJson + ": shard '" + shardName + "' lies outside the index folder");
        }
        if (!Files.isRegularFile(shard)) {
            throw new SafetensorsException(indexJson + ": shard file " + shard + " does not exist");
        }
        return shard;
    }

    /** The opened shard files, in first-mention order. */
    public List<SafetensorsFile> shards() {
        checkOpen();
        return shards;
    }

    /** The shard holding {@code name}. */
    public SafetensorsFile shardOf(String name) {
        checkOpen();
        SafetensorsFile f = fileOf.get(name);
        if (f == null) {
            throw new SafetensorsException(index + ": no tensor named '" + name + "'");
        }
        return f;
    }

    @Override
    public String description() {
        return index.toString();
    }

    @Override
    public Set<String> names() {
        checkOpen();
        return fileOf.keySet();
    }

    @Override
    public boolean contains(String name) {
        checkOpen();
        return fileOf.containsKey(name);
    }

    @Override
    public TensorInfo info(String name) {
        return shardOf(name).info(name);
    }

    @Override
    public Map<String, String> metadata() {
        checkOpen();
        return metadata;
    }

    @Override
    public ByteBuffer buffer(String name) {
        return shardOf(name).buffer(name);
    }

    @Override
    public List<ByteBuffer> bufferChunks(String name, int maxChunkBytes) {
        return shardOf(name).bufferChunks(name, maxChunkBytes);
    }

    @Override
    public float[] toFloatArray(String name) {
        return shardOf(name).toFloatArray(name);
    }

    @Override
    public double[] toDoubleArray(String name) {
        return shardOf(name).toDoubleArray(name);
    }

    @Override
    public long[] toLongArray(String name) {
        return shardOf(name).toLongArray(name);
    }

    @Override
    public int[] toIntArray(String name) {
        return shardOf(name).toIntArray(name);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<RuntimeException> failures = new ArrayList<>();
        for (SafetensorsFile f : shards) {
            try {
                f.close();
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
        if (!failures.isEmpty()) {
            RuntimeException first = failures.get(0);
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw first;
        }
    }

    @Override
    public String toString() {
        return "ShardedSafetensors[" + index + ", " + fileOf.size() + " tensors in " + shards.size() + " shards]";
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(index + ": ShardedSafetensors is closed");
        }
    }
}
