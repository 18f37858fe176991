package dev.jdiffuse.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * A GGUF file (llama.cpp / ggml's format, v2 and v3) as a {@link TensorSource}: the files ComfyUI-GGUF and Forge run
 * FLUX and SD 3.5 with ({@code flux1-dev-Q8_0.gguf}, {@code sd3.5_large-Q5_0.gguf}), which hold the diffusion model
 * alone under its original names. The header is parsed and validated on {@link #open} ({@link GgufHeader}); tensor
 * data is memory-mapped when asked for.
 *
 * <p>Tensors are served in PyTorch's orientation: GGUF lists dimensions innermost first ({@code ne[0]} varies
 * fastest), so the shape is the reversed list, unless ComfyUI-GGUF recorded the original one under
 * {@code comfy.gguf.orig_shape.<name>}; the element order is the same either way. Plain types (F32, F16, BF16, F64
 * and the integers) are served as stored, zero-copy, as {@link SafetensorsFile} serves them. Quantized types (Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K; {@link GgmlType}) are served as F32: {@link #info} reports dtype F32 and the
 * decoded size ({@code [begin, end)} starts at the stored offset and spans {@code 4 x numel} bytes, so it is not a
 * range of the file; {@link #tensor} gives the stored one), and {@link #buffer} / {@link #bufferChunks} dequantize that
 * tensor (or chunk) alone into fresh direct memory on each call ({@link GgmlDequantizer}; large tensors on the common
 * fork-join pool), so the whole file is never decoded at once and the caller's loader converts to its dtype.
 *
 * <p>Why written here rather than taken from a library: no maintained pure-Java GGUF reader with ggml's dequantizers
 * was found for Java 17 (the workplace's Maven Central package list names none; llama.cpp's Java bindings,
 * {@code de.kherud:llama}, are JNI around the native library and load whole LLMs through it, with no per-tensor API;
 * the Java LLM engines decode their own subset of types into their own tensor classes). The format is small: a
 * header of a dozen value types and the block layouts of {@code ggml-common.h}.
 *
 * <p>{@link #close()} closes the channel; buffers already handed out stay valid.
 */
public final class GgufFile implements TensorSource {

    /** Quantized tensors with more blocks than this are decoded in parallel slices of this many blocks. */
    private static final int PARALLEL_BLOCKS = 1 << 14;

    private final Path path;
    private final FileChannel channel;
    private final GgufHeader header;
    private final Map<String, TensorInfo> infos = new LinkedHashMap<>();
    private final Map<String, String> metadataStrings;
    private volatile boolean closed;

    private GgufFile(Path path, FileChannel channel, GgufHeader header) {
        this.path = path;
        this.channel = channel;
        this.header = header;
        for (GgufTensor t : header.tensors().values()) {
            DType dtype = t.type().exposedAs();
            long bytes = t.type().isQuantized() ? Math.multiplyExact(t.numel(), (long) dtype.byteSize())
                    : t.storedBytes();
            infos.put(t.name(), new TensorInfo(t.name(), dtype, t.shape(), t.offset(), t.offset() + bytes));
        }
        Map<String, String> m = new LinkedHashMap<>();
        header.metadata().forEach((k, v) -> m.put(k, render(v)));
        this.metadataStrings = Collections.unmodifiableMap(m);
    }

    /** The file extension GGUF files have. */
    public static final String EXTENSION = ".gguf";

    /** Whether {@code path} names a GGUF file (by its extension, case-insensitively). */
    public static boolean isGguf(Path path) {
        Path f = path.getFileName();
        return f != null && f.toString().toLowerCase(java.util.Locale.ROOT).endsWith(EXTENSION);
    }

    /** Opens and validates {@code path}. */
    public static GgufFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot open: " + e, e);
        }
        try {
            return new GgufFile(path, channel, GgufHeader.read(path.toString(), channel, channel.size()));
        } catch (IOException e) {
            closeQuietly(channel);
            throw new SafetensorsException(path + ": read failed: " + e, e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** GGUF version (2 or 3). */
    public int version() {
        return header.version();
    }

    /** The data section's alignment ({@code general.alignment}, default 32). */
    public long alignment() {
        return header.alignment();
    }

    /** File offset of the data section. */
    public long dataStart() {
        return header.dataStart();
    }

    /** The stored form of {@code name}: ggml type, ggml dimensions, byte range in the data section. */
    public GgufTensor tensor(String name) {
        checkOpen();
        GgufTensor t = header.tensors().get(name);
        if (t == null) {
            throw new SafetensorsException(path + ": no tensor named '" + name + "'");
        }
        return t;
    }

    /** Metadata with their GGUF types kept (see {@link GgufHeader} for the Java types). */
    public Map<String, Object> metadataValues() {
        checkOpen();
        return header.metadata();
    }

    @Override
    public String description() {
        return path.toString();
    }

    @Override
    public Set<String> names() {
        checkOpen();
        return Collections.unmodifiableSet(infos.keySet());
    }

    @Override
    public boolean contains(String name) {
        checkOpen();
        return infos.containsKey(name);
    }

    @Override
    public TensorInfo info(String name) {
        checkOpen();
        TensorInfo info = infos.get(name);
        if (info == null) {
            throw new SafetensorsException(path + ": no tensor named '" + name + "'");
        }
        return info;
    }

    /** The metadata as text: numbers, booleans and strings as written, arrays as {@code [a, b, ...]} (long ones cut). */
    @Override
    public Map<String, String> metadata() {
        checkOpen();
        return metadataStrings;
    }

    @Override
    public ByteBuffer buffer(String name) {
        GgufTensor t = tensor(name);
        TensorInfo info = info(name);
        if (info.byteSize() > Integer.MAX_VALUE) {
            throw new SafetensorsException(path + ": tensor '" + name + "' has " + info.byteSize()
                    + " bytes" + (t.type().isQuantized() ? " dequantized" : "")
                    + ", more than one ByteBuffer can address; read it with bufferChunks");
        }
        if (!t.type().isQuantized()) {
            return map(t.offset(), t.storedBytes());
        }
        return dequantize(t, 0, (int) t.numel());
    }

    @Override
    public List<ByteBuffer> bufferChunks(String name, int maxChunkBytes) {
        GgufTensor t = tensor(name);
        int elementBytes = t.type().exposedAs().byteSize();
        long chunkElements = maxChunkBytes / elementBytes;
        if (chunkElements <= 0) {
            throw new IllegalArgumentException("maxChunkBytes " + maxChunkBytes + " is smaller than one "
                    + t.type().exposedAs() + " element");
        }
        List<ByteBuffer> out = new ArrayList<>();
        long numel = t.numel();
        for (long at = 0; at < numel; at += chunkElements) {
            int count = (int) Math.min(chunkElements, numel - at);
            out.add(t.type().isQuantized() ? dequantize(t, at, count)
                    : map(t.offset() + at * elementBytes, (long) count * elementBytes));
        }
        return Collections.unmodifiableList(out);
    }

    /** Elements {@code [first, first + count)} of quantized {@code t} as a fresh little-endian F32 direct buffer. */
    private ByteBuffer dequantize(GgufTensor t, long first, int count) {
        GgmlType type = t.type();
        int per = type.blockElements();
        long firstBlock = first / per;
        long endBlock = (first + count + per - 1) / per;
        int blocks = Math.toIntExact(endBlock - firstBlock);
        ByteBuffer stored = map(t.offset() + firstBlock * type.blockBytes(), (long) blocks * type.blockBytes());
        int skip = (int) (first - firstBlock * per);
        ByteBuffer out = ByteBuffer.allocateDirect(Math.multiplyExact(count, 4)).order(ByteOrder.LITTLE_ENDIAN);
        FloatBuffer floats = out.asFloatBuffer();
        int slices = (blocks + PARALLEL_BLOCKS - 1) / PARALLEL_BLOCKS;
        IntStream range = IntStream.range(0, slices);
        (slices > 1 ? range.parallel() : range).forEach(s -> {
            int b0 = s * PARALLEL_BLOCKS;
            int n = Math.min(PARALLEL_BLOCKS, blocks - b0);
            float[] y = new float[n * per];
            GgmlDequantizer.dequantize(type, stored, b0 * type.blockBytes(), n, y, 0);
            // element e of the slice is element b0 * per + e - skip of the output
            int from = Math.max(0, skip - b0 * per);
            int to = Math.min(y.length, skip + count - b0 * per);
            if (to > from) {
                floats.put(b0 * per + from - skip, y, from, to - from);
            }
        });
        return out.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    private ByteBuffer map(long dataOffset, long length) {
        checkOpen();
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, header.dataStart() + dataOffset, length)
                    .order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot map data bytes [" + dataOffset + ", "
                    + (dataOffset + length) + "): " + e, e);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            throw new SafetensorsException(path + ": close failed: " + e, e);
        }
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + header.version() + ", " + infos.size() + " tensors]";
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(path + ": GgufFile is closed");
        }
    }

    /** A metadata value as text; arrays past 64 items show their first 64 and the count. */
    private static String render(Object v) {
        if (v instanceof List<?> list) {
            String items = list.stream().limit(64).map(GgufFile::render).collect(Collectors.joining(", "));
            return "[" + items + (list.size() > 64 ? ", ... (" + list.size() + " items)" : "") + "]";
        }
        return String.valueOf(v);
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // the original failure is the one to report
        }
    }
}
