package dev.jdiffuse.samplers.noise;

import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Bit-exact parity with {@code torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed),
 * dtype=float32)} for every CPU case of the {@code rng} fixture, and for its {@code cpu_seed{s}_twice_first/second}
 * pairs (two draws on one generator: the second must continue the stream).
 */
class TorchCpuNoiseParityTest {

    private static final String FOLDER = "rng";
    private static final Pattern TWICE_FIRST = Pattern.compile("cpu_seed(\\d+)_twice_first");

    @TestFactory
    List<DynamicTest> matchesTorchRandnBitForBit() {
        return Fixtures.withCase(FOLDER, TorchCpuNoiseParityTest::everyCpuCase);
    }

    private static List<DynamicTest> everyCpuCase(Path dir) {
        String prefix = Fixtures.displayName(dir) + "/";
        SafetensorsFile tensors = SafetensorsFile.open(dir.resolve("io.safetensors"));
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : Fixtures.meta(dir).get("cases")) {
            if (!"cpu".equals(c.get("device").asText())) {
                continue;
            }
            String name = c.get("name").asText();
            long seed = Long.parseUnsignedLong(c.get("seed").asText());
            long[] dims = new long[c.get("shape").size()];
            for (int i = 0; i < dims.length; i++) {
                dims[i] = c.get("shape").get(i).asLong();
            }
            tests.add(DynamicTest.dynamicTest(prefix + name, () -> {
                Shape shape = new Shape(dims);
                assertArrayEquals(tensors.info(name).shape(), dims, name + ": fixture shape");
                float[] actual = new TorchCpuNoise(seed).normalValues(shape);
                assertBitExact(prefix + name, tensors.toFloatArray(name), actual);
            }));
        }
        for (String name : tensors.names()) {
            Matcher m = TWICE_FIRST.matcher(name);
            if (!m.matches()) {
                continue;
            }
            long seed = Long.parseUnsignedLong(m.group(1));
            String second = "cpu_seed" + m.group(1) + "_twice_second";
            tests.add(DynamicTest.dynamicTest(prefix + "cpu_seed" + m.group(1) + "_twice", () -> {
                TorchCpuNoise noise = new TorchCpuNoise(seed);
                assertBitExact(prefix + name, tensors.toFloatArray(name),
                        noise.normalValues(new Shape(tensors.info(name).shape())));
                assertBitExact(prefix + second, tensors.toFloatArray(second),
                        noise.normalValues(new Shape(tensors.info(second).shape())));
            }));
        }
        return tests;
    }

    /** Fails unless every float has the same bits; reports the count of differing elements and the max ulp. */
    static void assertBitExact(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        int differing = 0;
        long maxUlp = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            int e = Float.floatToIntBits(expected[i]);
            int a = Float.floatToIntBits(actual[i]);
            if (e != a) {
                differing++;
                maxUlp = Math.max(maxUlp, Math.abs(ordered(e) - ordered(a)));
                if (first < 0) {
                    first = i;
                }
            }
        }
        Close.report(String.format("%s: %d of %d elements differ in bits, max %d ulp", what, differing,
                expected.length, maxUlp));
        if (differing > 0) {
            throw new AssertionError(String.format("%s: %d of %d elements differ (max %d ulp); first at %d: "
                    + "expected %s, got %s", what, differing, expected.length, maxUlp, first,
                    Float.toString(expected[first]), Float.toString(actual[first])));
        }
    }

    /** Float bits mapped to a monotonic integer line, so that differences count ulps across zero. */
    private static long ordered(int bits) {
        return bits >= 0 ? bits : (long) Integer.MIN_VALUE - bits;
    }
}
