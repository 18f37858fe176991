package dev.jdiffuse.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A sparse file of about 5.5 GiB (no disk blocks for the zero-filled parts) proves 64-bit offsets: two 1.5 GiB
 * tensors that need separate mapped regions, small tensors beyond 3 GiB and 5 GiB, and one tensor above 2 GiB.
 */
class LargeFileTest {

    private static final long GIB = 1L << 30;

    @TempDir
    Path dir;

    @Test
    void tensorsBeyondTwoGibibytesAreReadable() throws IOException {
        long a = 3 * GIB / 2;
        long big = 2 * GIB + 8;
        long cBegin = 2 * a;
        long bigBegin = cBegin + 16;
        long dBegin = bigBegin + big;
        long dataLength = dBegin + 16;
        String header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[" + a + "],\"data_offsets\":[0," + a + "]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[" + a + "],\"data_offsets\":[" + a + "," + 2 * a + "]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[" + cBegin + "," + (cBegin + 16) + "]},"
                + "\"big\":{\"dtype\":\"U8\",\"shape\":[" + big + "],\"data_offsets\":[" + bigBegin + "," + dBegin + "]},"
                + "\"d\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[" + dBegin + "," + dataLength + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        long dataStart = 8 + h.length;
        Path f = dir.resolve("sparse.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(dataStart + dataLength);
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            raf.write(h);
            raf.seek(dataStart + cBegin);
            raf.write(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f).putFloat(-2f)
                    .putFloat(3f).putFloat(1e-3f).array());
            raf.seek(dataStart + dBegin);
            raf.write(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).putLong(-5).array());
            raf.seek(dataStart + a + a - 1);
            raf.write(7); // last byte of b, in the second mapped region
            raf.seek(dataStart + dBegin - 1);
            raf.write(9); // last byte of big
        }
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            assertEquals(List.of("a", "b", "c", "big", "d"), List.copyOf(st.names()));
            assertEquals(cBegin, st.info("c").begin());
            assertArrayEquals(new float[] {1.5f, -2f, 3f, 1e-3f}, st.toFloatArray("c"));
            assertArrayEquals(new long[] {1L << 40, -5}, st.toLongArray("d"));
            ByteBuffer b = st.buffer("b");
            assertEquals(a, b.capacity());
            assertEquals(7, b.get((int) a - 1));

            SafetensorsException tooBig = assertThrows(SafetensorsException.class, () -> st.buffer("big"));
            assertTrue(tooBig.getMessage().contains("bufferChunks") && tooBig.getMessage().contains(f.toString()),
                    tooBig.getMessage());
            SafetensorsException noArray = assertThrows(SafetensorsException.class, () -> st.toFloatArray("big"));
            assertTrue(noArray.getMessage().contains("more than a Java array holds"), noArray.getMessage());
            List<ByteBuffer> chunks = st.bufferChunks("big", (int) GIB);
            assertEquals(3, chunks.size());
            assertEquals(8, chunks.get(2).remaining());
            assertEquals(9, chunks.get(2).get(7));
            assertEquals(big, chunks.stream().mapToLong(ByteBuffer::remaining).sum());
        }
    }
}
