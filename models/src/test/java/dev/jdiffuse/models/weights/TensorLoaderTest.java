package dev.jdiffuse.models.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.HalfFloats;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loads every fixture model weight file (all {@code *.safetensors} except {@code io.safetensors}) into NDArrays as
 * float32 and float16 and compares them bit for bit with the Java decoding {@code toFloatArray} rounded the same way
 * (F16 to F32 is exact, F32 to F16 rounds to nearest even in both); plus every stored dtype from a written file.
 */
class TensorLoaderTest {

    @TempDir
    Path dir;

    @TestFactory
    List<DynamicTest> fixtureWeightsLoadExactly() {
        return Fixtures.eachFile("model weight files", p -> p.getFileName().toString().endsWith(".safetensors")
                && !p.getFileName().toString().equals("io.safetensors"), TensorLoaderTest::checkFile);
    }

    private static void checkFile(Path file) {
        try (SafetensorsFile st = SafetensorsFile.open(file); NDManager manager = NDManager.newBaseManager()) {
            for (String name : st.names()) {
                TensorInfo info = st.info(name);
                if (!info.dtype().isFloatingPoint()) {
                    continue;
                }
                float[] reference = st.toFloatArray(name);
                try (NDManager scope = manager.newSubManager()) {
                    NDArray f32 = TensorLoader.load(st, name, scope, DataType.FLOAT32);
                    assertEquals(DataType.FLOAT32, f32.getDataType());
                    assertArrayEquals(info.shape(), f32.getShape().getShape(), name);
                    assertArrayEquals(reference, f32.toFloatArray(), name + " as float32");

                    NDArray f16 = TensorLoader.load(st, name, scope, DataType.FLOAT16);
                    assertEquals(DataType.FLOAT16, f16.getDataType());
                    assertArrayEquals(rounded(reference, false), f16.toType(DataType.FLOAT32, false).toFloatArray(),
                            name + " as float16");

                }
            }
        }
    }

    private static float[] rounded(float[] v, boolean bf16) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = bf16 ? HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v[i]))
                    : HalfFloats.halfToFloat(HalfFloats.floatToHalf(v[i]));
        }
        return out;
    }

    @Test
    void everyStoredDtypeLoads() throws IOException {
        float[] values = {0f, -1.5f, 3.140625f, 1e-3f, -65504f, 0.333333f};
        Map<String, TensorData> t = new LinkedHashMap<>();
        for (DType d : new DType[] {DType.F64, DType.F32, DType.F16, DType.BF16}) {
            t.put(d.name(), TensorData.ofFloats(d, new long[] {2, 3}, values));
        }
        t.put("I64", TensorData.ofLongs(new long[] {3}, new long[] {-7, 0, 1L << 40}));
        t.put("I32", TensorData.ofInts(new long[] {3}, new int[] {-7, 0, 1 << 30}));
        t.put("I16", TensorData.of(DType.I16, new long[] {2}, new byte[] {(byte) 0xfe, (byte) 0xff, 0x10, 0x00}));
        t.put("I8", TensorData.of(DType.I8, new long[] {2}, new byte[] {-3, 4}));
        t.put("U8", TensorData.of(DType.U8, new long[] {2}, new byte[] {(byte) 200, 4}));
        t.put("BOOL", TensorData.of(DType.BOOL, new long[] {2}, new byte[] {1, 0}));
        t.put("F8_E4M3", TensorData.of(DType.F8_E4M3, new long[] {3}, new byte[] {0x38, (byte) 0xfe, 0x01}));
        t.put("F8_E5M2", TensorData.of(DType.F8_E5M2, new long[] {2}, new byte[] {0x3c, (byte) 0xc0}));
        Path f = dir.resolve("all.safetensors");
        SafetensorsWriter.write(f, t);
        try (SafetensorsFile st = SafetensorsFile.open(f); NDManager m = NDManager.newBaseManager()) {
            for (String name : st.names()) {
                NDArray natural = TensorLoader.load(st, name, m);
                assertEquals(TensorLoader.naturalType(st.info(name).dtype()), natural.getDataType(), name);
                assertArrayEquals(st.info(name).shape(), natural.getShape().getShape(), name);
                NDArray f32 = TensorLoader.load(st, name, m, DataType.FLOAT32);
                assertArrayEquals(st.toFloatArray(name), f32.toFloatArray(), name + " as float32");
                NDArray f16 = TensorLoader.load(st, name, m, DataType.FLOAT16);
                assertArrayEquals(rounded(st.toFloatArray(name), false),
                        f16.toType(DataType.FLOAT32, false).toFloatArray(), name + " as float16");
            }
            assertArrayEquals(new long[] {-7, 0, 1L << 40}, TensorLoader.load(st, "I64", m).toLongArray());
            assertArrayEquals(new int[] {-2, 16}, TensorLoader.load(st, "I16", m).toIntArray());
            assertArrayEquals(rounded(values, true), TensorLoader.load(st, "BF16", m).toFloatArray());
        }
    }

    @Test
    void targetsThatWouldAbortTheJvmAreRefused() throws IOException {
        Path f = dir.resolve("one.safetensors");
        SafetensorsWriter.write(f, Map.of("x", TensorData.ofFloats(new long[] {2}, new float[] {1, 2})));
        try (SafetensorsFile st = SafetensorsFile.open(f); NDManager m = NDManager.newBaseManager()) {
            for (DataType bad : new DataType[] {DataType.BFLOAT16, DataType.INT16}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> TensorLoader.load(st, "x", m, bad));
                assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
            }
        }
    }

    @Test
    void loadedArraysOwnTheirMemory() throws IOException {
        Path f = dir.resolve("w.safetensors");
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("h", TensorData.ofFloats(DType.F16, new long[] {2, 2}, new float[] {1, 2, 3, 4}));
        t.put("s", TensorData.ofFloats(new long[] {3}, new float[] {5, 6, 7}));
        t.put("i", TensorData.ofLongs(new long[] {2}, new long[] {-3, 1L << 40}));
        t.put("e", TensorData.ofFloats(new long[] {0, 3}, new float[0]));
        SafetensorsWriter.write(f, t);
        try (SafetensorsFile st = SafetensorsFile.open(f); NDManager m = NDManager.newBaseManager()) {
            NDArray same = TensorLoader.load(st, "s", m, DataType.FLOAT32);
            NDArray converted = TensorLoader.load(st, "h", m, DataType.FLOAT32);
            same.addi(1); // a write into mapped read-only memory would crash the JVM
            converted.addi(1);
            assertArrayEquals(new float[] {6, 7, 8}, same.toFloatArray());
            assertArrayEquals(new float[] {2, 3, 4, 5}, converted.toFloatArray());
            assertArrayEquals(new float[] {5, 6, 7}, st.toFloatArray("s"), "file data untouched");
            assertArrayEquals(new long[] {-3, 1L << 40}, TensorLoader.load(st, "i", m).toLongArray());
            NDArray empty = TensorLoader.load(st, "e", m, DataType.FLOAT16);
            assertArrayEquals(new long[] {0, 3}, empty.getShape().getShape());
        }
        System.gc(); // the loaded arrays must not depend on the (now collectable) mapping
        try (NDManager m = NDManager.newBaseManager(); SafetensorsFile st = SafetensorsFile.open(f)) {
            NDArray kept = TensorLoader.load(st, "s", m, DataType.FLOAT32);
            st.close();
            System.gc();
            assertArrayEquals(new float[] {5, 6, 7}, kept.toFloatArray());
        }
    }
}
