package dev.jdiffuse.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One memory-mapped safetensors file: {@code [u64 little-endian header length N][N bytes of JSON header][data]}.
 * All offsets are 64-bit, so files beyond 2 GiB open. Because one {@link MappedByteBuffer} addresses at most 2 GiB,
 * the data section is mapped lazily in regions of up to {@value #MAX_REGION_BYTES} bytes, each holding whole
 * tensors; a single tensor larger than that is served only through {@link #bufferChunks}. Nothing is copied onto
 * the Java heap except the header.
 *
 * <p>The header is validated completely on {@link #open} (see {@link SafetensorsHeader}); a bad file raises a
 * {@link SafetensorsException} naming the file, never an {@code OutOfMemoryError}: the header length is checked
 * against the file size and the reference cap of 100 MB before anything is allocated.
 *
 * <p>{@link #close()} closes the channel; mapped regions are unmapped by the garbage collector once no buffer
 * refers to them (explicit unmapping could crash the JVM through a buffer still held by a caller).
 */
public final class SafetensorsFile implements TensorSource {

    /** Largest region mapped as one buffer. */
    static final int MAX_REGION_BYTES = Integer.MAX_VALUE;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final SafetensorsHeader header;
    private final Map<String, Region> regionOf = new HashMap<>();
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, SafetensorsHeader header) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.header = header;
        planRegions();
    }

    /** Opens and validates {@code path}. */
    public static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot open: " + e, e);
        }
        try {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw new SafetensorsException(path + ": file has " + fileSize
                        + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lengthBytes = readFully(path, channel, 0, 8).order(ByteOrder.LITTLE_ENDIAN);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength < 0 || headerLength > SafetensorsHeader.MAX_HEADER_BYTES) {
                throw new SafetensorsException(path + ": header length " + Long.toUnsignedString(headerLength)
                        + " exceeds the limit of " + SafetensorsHeader.MAX_HEADER_BYTES + " bytes (corrupt file?)");
            }
            if (headerLength > fileSize - 8) {
                throw new SafetensorsException(path + ": header length " + headerLength + " is past the end of the file ("
                        + fileSize + " bytes)");
            }
            ByteBuffer headerBytes = readFully(path, channel, 8, (int) headerLength);
            long dataStart = 8 + headerLength;
            SafetensorsHeader header = SafetensorsHeader.parse(path.toString(), headerBytes.array(),
                    fileSize - dataStart);
            return new SafetensorsFile(path, channel, dataStart, header);
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

    @Override
    public String description() {
        return path.toString();
    }

    /** File offset of the data section ({@code 8 + header length}). */
    public long dataStart() {
        return dataStart;
    }

    @Override
    public Set<String> names() {
        checkOpen();
        return header.tensors().keySet();
    }

    @Override
    public boolean contains(String name) {
        checkOpen();
        return header.tensors().containsKey(name);
    }

    @Override
    public TensorInfo info(String name) {
        checkOpen();
        TensorInfo info = header.tensors().get(name);
        if (info == null) {
            throw new SafetensorsException(path + ": no tensor named '" + name + "'");
        }
        return info;
    }

    @Override
    public Map<String, String> metadata() {
        checkOpen();
        return header.metadata();
    }

    @Override
    public ByteBuffer buffer(String name) {
        TensorInfo info = info(name);
        Region region = regionOf.get(name);
        if (region == null) {
            throw new SafetensorsException(path + ": tensor '" + name + "' has " + info.byteSize()
                    + " bytes, more than one ByteBuffer can address; read it with bufferChunks");
        }
        ByteBuffer mapped = region.mapped();
        return mapped.slice((int) (info.begin() - region.begin), (int) info.byteSize())
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public List<ByteBuffer> bufferChunks(String name, int maxChunkBytes) {
        TensorInfo info = info(name);
        int elementBytes = info.dtype().byteSize();
        long chunk = (maxChunkBytes / elementBytes) * (long) elementBytes;
        if (chunk <= 0) {
            throw new IllegalArgumentException("maxChunkBytes " + maxChunkBytes + " is smaller than one "
                    + info.dtype() + " element");
        }
        List<ByteBuffer> out = new ArrayList<>();
        Region region = regionOf.get(name);
        for (long at = 0; at < info.byteSize(); at += chunk) {
            int length = (int) Math.min(chunk, info.byteSize() - at);
            ByteBuffer piece = region != null
                    ? region.mapped().slice((int) (info.begin() + at - region.begin), length)
                    : map(info.begin() + at, length);
            out.add(piece.order(ByteOrder.LITTLE_ENDIAN));
        }
        return Collections.unmodifiableList(out);
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
        return "SafetensorsFile[" + path + ", " + header.tensors().size() + " tensors]";
    }

    /** Groups tensors, in offset order, into regions of at most MAX_REGION_BYTES; oversize tensors get none. */
    private void planRegions() {
        List<TensorInfo> sorted = new ArrayList<>(header.tensors().values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        Region current = null;
        for (TensorInfo t : sorted) {
            if (t.byteSize() > MAX_REGION_BYTES) {
                current = null;
                continue;
            }
            if (current == null || t.end() - current.begin > MAX_REGION_BYTES) {
                current = new Region(t.begin());
            }
            current.end = Math.max(current.end, t.end());
            regionOf.put(t.name(), current);
        }
    }

    private MappedByteBuffer map(long dataOffset, long length) {
        checkOpen();
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + dataOffset, length);
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot map data bytes [" + dataOffset + ", "
                    + (dataOffset + length) + "): " + e, e);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(path + ": SafetensorsFile is closed");
        }
    }

    private static ByteBuffer readFully(Path path, FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length);
        while (buf.hasRemaining()) {
            int n = channel.read(buf, position + buf.position());
            if (n < 0) {
                throw new SafetensorsException(path + ": unexpected end of file at byte " + (position + buf.position()));
            }
        }
        return buf.flip();
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // the original failure is the one to report
        }
    }

    /** A lazily mapped span {@code [begin, end)} of the data section holding whole tensors. */
    private final class Region {
        final long begin;
        long end;
        private MappedByteBuffer mapped;

        Region(long begin) {
            this.begin = begin;
            this.end = begin;
        }

        synchronized MappedByteBuffer mapped() {
            if (mapped == null) {
                mapped = map(begin, end - begin);
            }
            return mapped;
        }
    }
}
