package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Reads a fixture case's {@code io.safetensors} into arrays and compares outputs with the model tolerance. */
final class FixtureIo implements AutoCloseable {

    static final double TOLERANCE = 1e-3;

    private final SafetensorsFile io;
    private final NDManager manager;

    FixtureIo(Path caseDir, NDManager manager) {
        this.io = SafetensorsFile.open(caseDir.resolve("io.safetensors"));
        this.manager = manager;
    }

    boolean has(String name) {
        return io.contains(name);
    }

    NDArray array(String name) {
        return manager.create(io.toFloatArray(name), new Shape(io.info(name).shape()));
    }

    double[] doubles(String name) {
        return io.toDoubleArray(name);
    }

    /** Asserts max|actual - ref| <= 1e-3 max|ref|, reports the measured ratio, returns it. */
    double check(String what, String name, NDArray actual) {
        org.junit.jupiter.api.Assertions.assertEquals(new Shape(io.info(name).shape()), actual.getShape(), what);
        double[] ref = Close.toDouble(io.toFloatArray(name));
        double[] got = Close.toDouble(actual.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray());
        return Close.assertMaxAbsRelative(what, ref, got, TOLERANCE);
    }

    /** A parity check of one case folder, given its name, a manager for the weights and its reference tensors. */
    interface CaseCheck {
        void run(String name, Path dir, NDManager weights, FixtureIo io);
    }

    /**
     * One dynamic test per {@linkplain #casesOfKind(String) case of kind} {@code kind}, or the stand-in requiring
     * {@code missing}; each runs {@code check} with fresh managers for the weights and the activations.
     */
    static List<DynamicTest> eachCaseOfKind(String kind, String missing, CaseCheck check) {
        return Fixtures.eachCase(casesOfKind(kind), missing, dir -> {
            try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                    FixtureIo io = new FixtureIo(dir, act)) {
                check.run(Fixtures.displayName(dir), dir, weights, io);
            }
        });
    }

    /** Top-level fixture folders whose meta.json {@code kind} is {@code kind}, sorted. */
    static List<Path> casesOfKind(String kind) {
        Path root = Fixtures.root();
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(root)) {
            return s.filter(p -> Files.isRegularFile(p.resolve("meta.json")))
                    .filter(p -> kind.equals(Fixtures.meta(p).path("kind").asText())).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        io.close();
    }
}
