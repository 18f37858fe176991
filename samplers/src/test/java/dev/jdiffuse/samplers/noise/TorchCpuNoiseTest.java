package dev.jdiffuse.samplers.noise;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.testkit.Close;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class TorchCpuNoiseTest {

    @Test
    void normalIsAFloat32ArrayOfTheShapeHoldingTheStreamValues() {
        Shape shape = new Shape(1, 4, 8, 8);
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray noise = new TorchCpuNoise(5).normal(manager, shape);
            assertEquals(shape, noise.getShape());
            assertEquals(DataType.FLOAT32, noise.getDataType());
            assertArrayEquals(new TorchCpuNoise(5).normalValues(shape), noise.toFloatArray());
        }
    }

    /**
     * The native libtorch that DJL loads runs the same kernel as torch.randn on its global CPU generator; it covers
     * shapes the fixture lacks (a size that is not a multiple of 16, sizes below 16 that share the cached normal, a
     * 128x128 latent) and consecutive draws. Only on x86 with AVX2: libtorch without it takes its libm path.
     */
    @Test
    void matchesTheLoadedLibtorchForOtherShapesAndConsecutiveDraws() throws IOException {
        Assumptions.assumeTrue(cpuHasAvx2(), "libtorch uses its AVX2 normal kernel only on x86 CPUs with AVX2");
        Shape[] shapes = {new Shape(1, 4, 5, 7), new Shape(3, 5), new Shape(2, 3), new Shape(1, 4, 128, 128),
            new Shape(17), new Shape(1)};
        int seed = 2024;
        try (NDManager manager = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(seed);
            TorchCpuNoise noise = new TorchCpuNoise(seed);
            for (Shape shape : shapes) {
                float[] expected = manager.randomNormal(shape).toFloatArray();
                TorchCpuNoiseParityTest.assertBitExact("libtorch " + Engine.getInstance().getVersion() + " randn "
                        + shape, expected, noise.normalValues(shape));
            }
        }
    }

    @Test
    void timesA128LatentOnce() {
        Shape shape = new Shape(1, 4, 128, 128);
        long start = System.nanoTime();
        float[] cold = new TorchCpuNoise(1).normalValues(shape);
        long coldNanos = System.nanoTime() - start;
        start = System.nanoTime();
        float[] warm = new TorchCpuNoise(1).normalValues(shape);
        long warmNanos = System.nanoTime() - start;
        assertArrayEquals(cold, warm);
        Close.report(String.format("noise/TorchCpuNoise 1x4x128x128: %.2f ms first call, %.2f ms second call",
                coldNanos / 1e6, warmNanos / 1e6));
    }

    private static boolean cpuHasAvx2() throws IOException {
        String arch = System.getProperty("os.arch");
        Path cpuinfo = Path.of("/proc/cpuinfo");
        return ("amd64".equals(arch) || "x86_64".equals(arch)) && Files.isReadable(cpuinfo)
                && Files.readString(cpuinfo).contains(" avx2");
    }
}
