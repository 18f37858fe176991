package dev.jdiffuse.safetensors;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Named tensors backed by safetensors storage: one file ({@link SafetensorsFile}) or a sharded checkpoint
 * ({@link ShardedSafetensors}). Loaders program against this interface. Buffers are read-only little-endian views
 * of memory-mapped file data and stay valid after {@link #close()} (the mapping is released by the garbage
 * collector); every call on a closed source throws {@link IllegalStateException}.
 */
public interface TensorSource extends AutoCloseable {

    /**
     * Opens {@code path}: a {@code *.index.json} as a {@link ShardedSafetensors}, a {@code *.gguf} as a
     * {@link GgufFile}, any other file as a {@link SafetensorsFile}.
     */
    static TensorSource open(Path path) {
        String file = path.getFileName() == null ? "" : path.getFileName().toString();
        if (GgufFile.isGguf(path)) {
            return GgufFile.open(path);
        }
        return file.endsWith(".index.json") ? ShardedSafetensors.open(path) : SafetensorsFile.open(path);
    }

    /** What this source is (its file or index path), as used in error messages. */
    String description();

    /** Tensor names in header (or index) order. */
    Set<String> names();

    default boolean contains(String name) {
        return names().contains(name);
    }

    /** Header entry of {@code name}; throws {@link SafetensorsException} if there is no such tensor. */
    TensorInfo info(String name);

    /** The {@code __metadata__} block (of a sharded index: its {@code metadata}), possibly empty. */
    Map<String, String> metadata();

    /**
     * The raw bytes of {@code name}: a read-only, little-endian buffer (position 0, limit {@code byteSize}) sharing
     * the memory-mapped file, no copy. Throws {@link SafetensorsException} for a tensor larger than a ByteBuffer can
     * address (over {@code Integer.MAX_VALUE} bytes); use {@link #bufferChunks} for those.
     */
    ByteBuffer buffer(String name);

    /**
     * The raw bytes of {@code name} as consecutive read-only little-endian views of at most {@code maxChunkBytes}
     * bytes each (rounded down to whole elements); works for tensors of any size.
     */
    List<ByteBuffer> bufferChunks(String name, int maxChunkBytes);

    /** Elements as floats: exact from F32/F16/BF16/F8, rounded from F64 and large integers; BOOL as 0/1. */
    default float[] toFloatArray(String name) {
        return ElementConversions.toFloatArray(this, name);
    }

    /** Elements as doubles: exact from every dtype except I64 beyond 2^53. */
    default double[] toDoubleArray(String name) {
        return ElementConversions.toDoubleArray(this, name);
    }

    /** Elements of an integer or BOOL tensor as longs; floating-point tensors are refused. */
    default long[] toLongArray(String name) {
        return ElementConversions.toLongArray(this, name);
    }

    /** Elements of an integer or BOOL tensor as ints; refuses values outside the int range. */
    default int[] toIntArray(String name) {
        return ElementConversions.toIntArray(this, name);
    }

    @Override
    void close();
}
