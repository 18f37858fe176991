package dev.jdiffuse.safetensors;

import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Opens every {@code *.safetensors} under the fixture root and checks every entry's size and readability. */
class FixtureFilesTest {

    @TestFactory
    List<DynamicTest> everyFixtureFileParses() {
        return Fixtures.eachFile(".safetensors files", p -> p.getFileName().toString().endsWith(".safetensors"),
                FixtureFilesTest::check);
    }

    private static void check(Path file) throws IOException {
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            long total = 0;
            for (String name : st.names()) {
                TensorInfo info = st.info(name);
                assertEquals(info.numel() * info.dtype().byteSize(), info.byteSize(), name);
                assertEquals(info.byteSize(), st.buffer(name).remaining(), name);
                total += info.byteSize();
                if (info.dtype().isFloatingPoint()) {
                    assertEquals(info.numel(), st.toFloatArray(name).length, name);
                } else {
                    assertEquals(info.numel(), st.toLongArray(name).length, name);
                }
            }
            assertEquals(Files.size(file), st.dataStart() + total, "tensors tile the data section");
        }
    }
}
