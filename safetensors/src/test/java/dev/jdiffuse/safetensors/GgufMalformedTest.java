package dev.jdiffuse.safetensors;

import dev.jdiffuse.testkit.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad GGUF files: each fails on open with a {@link SafetensorsException} naming the file and what is wrong. */
class GgufMalformedTest {

    @TempDir
    Path dir;

    private Path write(String name, byte[] bytes) throws IOException {
        Path f = dir.resolve(name + ".gguf");
        Files.write(f, bytes);
        return f;
    }

    private static GgufWriter valid() {
        return new GgufWriter().metadata("general.architecture", "flux")
                .f32("img_in.weight", new long[] {3, 64}, new float[3 * 64]);
    }

    private static void expect(Path f, String... parts) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> GgufFile.open(f).close());
        String m = e.getMessage();
        assertTrue(m.contains(f.toString()), "names the file: " + m);
        for (String p : parts) {
            assertTrue(m.contains(p), "mentions '" + p + "': " + m);
        }
    }

    @Test
    void truncatedHeader() throws IOException {
        byte[] ok = valid().toBytes();
        for (int cut : new int[] {6, 20, 30, 60, 90}) {
            expect(write("cut" + cut, Arrays.copyOf(ok, cut)), "truncated");
        }
        expect(write("tiny", new byte[] {'G', 'G'}), "too short");
    }

    @Test
    void wrongMagic() throws IOException {
        expect(write("magic", valid().magic(0x12345678).toBytes()), "not a GGUF file", "78563412");
        byte[] safetensors = new byte[64];
        ByteBuffer.wrap(safetensors).order(ByteOrder.LITTLE_ENDIAN).putLong(40);
        expect(write("renamed-safetensors", safetensors), "not a GGUF file");
    }

    @Test
    void unsupportedVersions() throws IOException {
        expect(write("v1", valid().version(1).toBytes()), "version 1");
        expect(write("v9", valid().version(9).toBytes()), "unsupported GGUF version 9");
        expect(write("bigendian", valid().version(3 << 24).toBytes()), "big-endian");
    }

    @Test
    void unknownOrUnsupportedGgmlTypeNamesTheTensorAndTheType() throws IOException {
        expect(write("iq2", valid().tensor("double_blocks.0.img_attn.qkv.weight", 16, new long[] {256},
                new byte[66]).toBytes()), "double_blocks.0.img_attn.qkv.weight", "IQ2_XXS", "not supported");
        expect(write("t99", valid().tensor("x", 99, new long[] {4}, new byte[4]).toBytes()), "'x'",
                "unknown ggml type 99");
    }

    @Test
    void tensorDataOutOfRange() throws IOException {
        byte[] ok = valid().toBytes();
        expect(write("short-data", Arrays.copyOf(ok, ok.length - 100)), "img_in.weight", "outside the file");
    }

    @Test
    void badDimensionsAndBlocks() throws IOException {
        expect(write("5d", valid().tensorNe("five", GgufWriter.F32, new long[] {1, 1, 1, 1, 2}, new byte[8])
                .toBytes()), "'five'", "5 dimensions");
        expect(write("partial-block", valid().tensorNe("q", GgufWriter.Q8_0, new long[] {16, 2}, new byte[34])
                .toBytes()), "'q'", "not a multiple of its 32-element blocks");
        expect(write("orig-mismatch", valid().origShape("img_in.weight", 64, 4).toBytes()),
                "comfy.gguf.orig_shape.img_in.weight", "holds 256 elements", "stores 192");
    }

    @Test
    void forgedCountsFailWithoutAllocating() throws IOException {
        byte[] b = valid().toBytes();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(8, 1L << 40);
        expect(write("count", b), "tensor count", "cannot fit");
        byte[] k = valid().toBytes();
        ByteBuffer.wrap(k).order(ByteOrder.LITTLE_ENDIAN).putLong(24, Long.MAX_VALUE); // first key's length
        expect(write("keylength", k), "truncated GGUF header", "metadata key 0");
    }

    @Test
    void misalignedOffset() throws IOException {
        GgufWriter w = valid();
        byte[] b = w.toBytes();
        // the last 8 bytes before the padding of the tensor infos are img_in.weight's offset (0): make it 4
        int infoEnd = indexOfOffsetField(b);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(infoEnd, 4);
        expect(write("misaligned", b), "'img_in.weight'", "not a multiple of the alignment 32");
    }

    /** Offset of img_in.weight's u64 data offset: after its name, n_dims, two dims and the type. */
    private static int indexOfOffsetField(byte[] b) {
        byte[] name = "img_in.weight".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        outer:
        for (int i = b.length - name.length; i >= 0; i--) {
            for (int j = 0; j < name.length; j++) {
                if (b[i + j] != name[j]) {
                    continue outer;
                }
            }
            return i + name.length + 4 + 16 + 4;
        }
        throw new AssertionError("name not found");
    }
}
