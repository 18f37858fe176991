package dev.jdiffuse.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.stream.Stream;

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
    void headerNotUtf8() throws IOException {
        Path f = dir.resolve("latin1.safetensors");
        byte[] header = "{\"\u00e9\":1}".getBytes(StandardCharsets.ISO_8859_1);
        write(f, header.length, header, 0);
        expect(f, "not valid UTF-8");
    }

    /**
     * A header written with its true length and {@code dataBytes} zero bytes after it: the case's name, the header,
     * the data size, and the problem the error must name.
     */
    static Stream<Arguments> badHeaders() {
        String a2b4 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},";
        return Stream.of(
                Arguments.of("badjson", "{\"a\":{\"dtype\":\"F32\",", 0, "not valid JSON"),
                Arguments.of("array", "[1,2]", 0, "does not start with '{'"),
                Arguments.of("trailing", "{} x", 0, "not valid JSON"),
                Arguments.of("dup", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        + "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2,
                        "not valid JSON: duplicate field 'a'"),
                Arguments.of("nodtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                        "tensor 'a' has no string field 'dtype'"),
                Arguments.of("nooffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
                        "no array field 'data_offsets'"),
                Arguments.of("entry", "{\"a\":3}", 0, "tensor 'a' entry is not a JSON object"),
                Arguments.of("dtype", "{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,32]}}", 32,
                        "unknown dtype 'F128'"),
                Arguments.of("mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                        "byte size mismatch"),
                Arguments.of("negshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                        "'shape' has negative value -2"),
                Arguments.of("fracshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
                        "is not an integer"),
                Arguments.of("overflow",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
                        "overflows"),
                Arguments.of("reversed", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
                        "begin > end"),
                Arguments.of("triple", "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8,9]}}", 8,
                        "expected 2"),
                Arguments.of("overlap", a2b4 + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                        "overlap tensor 'a'"),
                Arguments.of("range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1000000,1000008]}}",
                        8, "past the end of the data section"),
                Arguments.of("truncated", a2b4 + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                        20, "file truncated"),
                Arguments.of("gap", a2b4 + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", 24,
                        "gap of 8 bytes"),
                Arguments.of("tail", F32X2, 12, "4 trailing bytes"),
                Arguments.of("meta", "{\"__metadata__\":{\"n\":3}," + F32X2.substring(1), 8,
                        "__metadata__ value of 'n' is not a string"));
    }

    @ParameterizedTest(name = "{0}: {3}")
    @MethodSource("badHeaders")
    void badHeaderFailsNamingTheProblem(String name, String header, int dataBytes, String problem) throws IOException {
        expect(file(name, header, dataBytes), problem);
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
