package dev.jdiffuse.models.weights;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.GgufFile;
import dev.jdiffuse.testkit.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A GGUF opened as a {@link SafetensorsStateDict} gives engine arrays in PyTorch's shape: a quantized tensor (Q6_K, a
 * 256-element K-quant, as a 3 x 512 weight: two blocks per row) arrives as the reader's dequantized floats, in
 * float32 and converted to float16 by the engine; an F16 tensor as stored.
 */
class GgufStateDictTest {

    @TempDir
    Path dir;

    @Test
    void quantizedAndHalfTensorsLoadIntoTheEngineInPyTorchShape() {
        // a Q6_K block whose 6-bit values are all 33 (x = d * scale * 1) with one scale per 16 elements: 1..16
        ByteBuffer block = ByteBuffer.allocate(210).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 128; i++) {
            block.put(i, (byte) 0x11); // low nibbles 1, high nibbles 1
        }
        for (int i = 0; i < 64; i++) {
            block.put(128 + i, (byte) 0xAA); // the 2-bit high parts: 2 (value 32 + 1 = 33)
        }
        for (int s = 0; s < 16; s++) {
            block.put(192 + s, (byte) (s + 1));
        }
        block.putShort(208, GgufWriter.toHalf(0.5f));
        byte[] six = new byte[6 * 210];
        for (int b = 0; b < 6; b++) {
            System.arraycopy(block.array(), 0, six, 210 * b, 210);
        }
        float[] half = {1, -2, 3.5f, 0.25f, -8, 6};
        Path f = dir.resolve("w.gguf");
        new GgufWriter().tensor("q", GgufWriter.Q6_K, new long[] {3, 512}, six).f16("h", new long[] {3, 2}, half)
                .write(f);
        try (SafetensorsStateDict sd = SafetensorsStateDict.open(f);
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            assertEquals(GgufFile.class, sd.source().getClass());
            assertArrayEquals(new long[] {3, 512}, sd.shape("q"));
            NDArray q = sd.load("q", m, DataType.FLOAT32);
            assertArrayEquals(new long[] {3, 512}, q.getShape().getShape());
            float[] v = q.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                assertEquals(0.5f * ((i % 256) / 16 + 1), v[i], "element " + i);
            }
            NDArray q16 = sd.load("q", m, DataType.FLOAT16);
            assertEquals(DataType.FLOAT16, q16.getDataType());
            assertArrayEquals(v, q16.toType(DataType.FLOAT32, false).toFloatArray());
            NDArray h = sd.load("h", m, DataType.FLOAT32);
            assertArrayEquals(new long[] {3, 2}, h.getShape().getShape());
            assertArrayEquals(half, h.toFloatArray());
        }
    }
}
