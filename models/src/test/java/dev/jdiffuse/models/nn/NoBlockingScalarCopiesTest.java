package dev.jdiffuse.models.nn;

import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.samplers.nd.ScalarOps;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * No class of the samplers or models modules calls DJL's array-with-number arithmetic ({@code NDArray.mul(Number)}
 * and its kin): each such call copies the number to the array's device and, on a GPU, makes the host wait for
 * everything queued there ({@link ScalarOps} says why and does it without the copy). Read from the compiled classes'
 * constant pools, so a new call anywhere fails here rather than slowing the GPU unnoticed.
 */
class NoBlockingScalarCopiesTest {

    /** Owners whose methods taking a Number copy it to the device ({@code clip} passes it to the kernel instead). */
    private static final Set<String> OWNERS = Set.of("ai/djl/ndarray/NDArray", "ai/djl/ndarray/NDArrays",
            "ai/djl/ndarray/internal/NDArrayEx", "ai/djl/pytorch/engine/PtNDArray",
            "ai/djl/pytorch/engine/PtNDArrayEx");

    @Test
    void noClassCopiesNumbersToTheDevice() throws Exception {
        List<String> found = new ArrayList<>();
        for (Class<?> anchor : List.of(ScalarOps.class, UNet2DConditionModel.class)) {
            Path where = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (var c : classFiles(where)) {
                for (String call : numberArithmetic(c.bytes())) {
                    found.add(c.name() + " calls " + call);
                }
            }
        }
        assertTrue(found.isEmpty(), "use ScalarOps instead:\n" + String.join("\n", found));
    }

    @Test
    void theScanFindsSuchACall() throws Exception {
        // this test class itself calls NDArray.mul(Number) below, so the scan must report it
        String self = NoBlockingScalarCopiesTest.class.getName().replace('.', '/') + ".class";
        try (InputStream in = NoBlockingScalarCopiesTest.class.getClassLoader().getResourceAsStream(self)) {
            assertTrue(numberArithmetic(in.readAllBytes()).contains("ai/djl/ndarray/NDArray.mul"
                    + "(Ljava/lang/Number;)Lai/djl/ndarray/NDArray;"));
        }
    }

    @SuppressWarnings("unused")
    private static ai.djl.ndarray.NDArray example(ai.djl.ndarray.NDArray a) {
        return a.mul(2f);
    }

    private record ClassFile(String name, byte[] bytes) {
    }

    private static List<ClassFile> classFiles(Path where) throws IOException {
        List<ClassFile> out = new ArrayList<>();
        if (Files.isDirectory(where)) {
            try (Stream<Path> s = Files.walk(where)) {
                for (Path p : s.filter(f -> f.toString().endsWith(".class")).toList()) {
                    out.add(new ClassFile(where.relativize(p).toString(), Files.readAllBytes(p)));
                }
            }
        } else {
            try (JarFile jar = new JarFile(where.toFile())) {
                for (var e : java.util.Collections.list(jar.entries())) {
                    if (e.getName().endsWith(".class")) {
                        try (InputStream in = jar.getInputStream(e)) {
                            out.add(new ClassFile(e.getName(), in.readAllBytes()));
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * The method references of a class file (JVM spec 4.4) whose owner is in {@link #OWNERS}, whose name is not
     * {@code clip} and whose descriptor takes a {@code java.lang.Number}.
     */
    static List<String> numberArithmetic(byte[] classFile) throws IOException {
        DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(classFile));
        in.readInt();
        in.readUnsignedShort();
        in.readUnsignedShort();
        int count = in.readUnsignedShort();
        String[] utf8 = new String[count];
        int[][] refs = new int[count][];
        for (int i = 1; i < count; i++) {
            int tag = in.readUnsignedByte();
            switch (tag) {
                case 1 -> utf8[i] = in.readUTF();
                case 7, 8, 16, 19, 20 -> refs[i] = new int[] {tag, in.readUnsignedShort()};
                case 3, 4 -> in.readInt();
                case 5, 6 -> {
                    in.readLong();
                    i++;
                }
                case 9, 10, 11, 12, 17, 18 -> refs[i] = new int[] {tag, in.readUnsignedShort(), in.readUnsignedShort()};
                case 15 -> {
                    in.readUnsignedByte();
                    in.readUnsignedShort();
                }
                default -> throw new IOException("constant pool tag " + tag);
            }
        }
        List<String> out = new ArrayList<>();
        for (int i = 1; i < count; i++) {
            if (refs[i] == null || (refs[i][0] != 10 && refs[i][0] != 11)) {
                continue;
            }
            String owner = utf8[refs[refs[i][1]][1]];
            int[] nat = refs[refs[i][2]];
            String name = utf8[nat[1]];
            String descriptor = utf8[nat[2]];
            if (OWNERS.contains(owner) && !name.equals("clip") && descriptor.contains("Ljava/lang/Number;")) {
                out.add(owner + "." + name + descriptor);
            }
        }
        return out;
    }
}
