package dev.jdiffuse.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Crafted bad files: each must fail on open with a {@link SafetensorsException} naming the file and the problem. */
class MalformedFileTest {

    @TempDir
    Path dir;

    private static final String F32X2 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    @Test
    void fileShorterThanEightBytes() throws IOException {
        Path f = dir.resolve("tiny.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        expect(f, "shorter than the 8-byte");
    }

    @Test
    void emptyFile() throws IOException {
        Path f = dir.resolve("empty.safetensors");
        Files.write(f, new byte[0]);
        expect(f, "shorter than the 8-byte");
    }

    @Test
    void headerLengthPastEndOfFile() throws IOException {
        expect(raw("pastend", 1000, F32X2, 8), "past the end of the file");
    }

    @Test
    void hugeForgedHeaderLengthFailsWithoutAllocating() throws IOException {
        expect(raw("huge", 1L << 62, F32X2, 8), "exceeds the limit");
    }

    @Test
    void headerLengthWithHighBitSet() throws IOException {
        expect(raw("negative", -8L, F32X2, 8), "exceeds the limit");
    }

    @Test
    void invalidJson() throws IOException {
        expect(file("badjson", "{\"a\":{\"dtype\":\"F32\",", 0), "not valid JSON");
    }

    @Test
    void headerNotAnObject() throws IOException {
        expect(file("array", "[1,2]", 0), "does not start with '{'");
    }

    @Test
    void trailingGarbageAfterJson() throws IOException {
        expect(file("trailing", "{} x", 0), "not valid JSON");
    }

    @Test
    void headerNotUtf8() throws IOException {
        Path f = dir.resolve("latin1.safetensors");
        byte[] header = "{\"\u00e9\":1}".getBytes(StandardCharsets.ISO_8859_1);
        write(f, header.length, header, 0);
        expect(f, "not valid UTF-8");
    }

    @Test
    void duplicateTensorName() throws IOException {
        String h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                + "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
        expect(file("dup", h, 2), "not valid JSON: duplicate field 'a'");
    }

    @Test
    void entryMissingDtype() throws IOException {
        expect(file("nodtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor 'a' has no string field 'dtype'");
    }

    @Test
    void entryMissingOffsets() throws IOException {
        expect(file("nooffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "no array field 'data_offsets'");
    }

    @Test
    void entryNotAnObject() throws IOException {
        expect(file("entry", "{\"a\":3}", 0), "tensor 'a' entry is not a JSON object");
    }

    @Test
    void unknownDtype() throws IOException {
        expect(file("dtype", "{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,32]}}", 32),
                "unknown dtype 'F128'");
    }

    @Test
    void shapeSizeMismatch() throws IOException {
        expect(file("mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
                "byte size mismatch");
    }

    @Test
    void negativeShape() throws IOException {
        expect(file("negshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8),
                "'shape' has negative value -2");
    }

    @Test
    void fractionalShape() throws IOException {
        expect(file("fracshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8),
                "is not an integer");
    }

    @Test
    void shapeOverflow() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}";
        expect(file("overflow", h, 8), "overflows");
    }

    @Test
    void offsetsBeginAfterEnd() throws IOException {
        expect(file("reversed", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8), "begin > end");
    }

    @Test
    void offsetsNotAPair() throws IOException {
        expect(file("triple", "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8,9]}}", 8),
                "expected 2");
    }

    @Test
    void overlappingTensors() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        expect(file("overlap", h, 12), "overlap tensor 'a'");
    }

    @Test
    void offsetsOutOfRange() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1000000,1000008]}}";
        expect(file("range", h, 8), "past the end of the data section");
    }

    @Test
    void truncatedData() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
        expect(file("truncated", h, 20), "file truncated");
    }

    @Test
    void gapBetweenTensors() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}";
        expect(file("gap", h, 24), "gap of 8 bytes");
    }

    @Test
    void trailingUncoveredBytes() throws IOException {
        expect(file("tail", F32X2, 12), "4 trailing bytes");
    }

    @Test
    void metadataValueNotString() throws IOException {
        String h = "{\"__metadata__\":{\"n\":3}," + F32X2.substring(1);
        expect(file("meta", h, 8), "__metadata__ value of 'n' is not a string");
    }

    @Test
    void unknownNameIsAClearError() throws IOException {
        Path f = file("ok", F32X2, 8);
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> st.info("zzz"));
            assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("no tensor named 'zzz'"),
                    e.getMessage());
        }
    }

    @Test
    void missingFile() {
        expect(dir.resolve("absent.safetensors"), "cannot open");
    }

    private void expect(Path file, String problem) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(file).close());
        String m = e.getMessage();
        assertTrue(m.contains(file.toString()), "message names the file: " + m);
        assertTrue(m.toLowerCase(Locale.ROOT).contains(problem.toLowerCase(Locale.ROOT)),
                "message says '" + problem + "': " + m);
    }

    private Path file(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return raw(name, h.length, header, dataBytes);
    }

    private Path raw(String name, long declaredLength, String header, int dataBytes) throws IOException {
        Path f = dir.resolve(name + ".safetensors");
        write(f, declaredLength, header.getBytes(StandardCharsets.UTF_8), dataBytes);
        return f;
    }

    private static void write(Path f, long declaredLength, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLength).put(header);
        Files.write(f, b.array());
    }
}
