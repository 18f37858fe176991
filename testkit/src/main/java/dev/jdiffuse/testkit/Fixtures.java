package dev.jdiffuse.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.function.ThrowingConsumer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Finds the reference fixtures: {@code $FIXTURES_DIR}, else the {@code fixtures.dir} system property (set by the build
 * to {@code ../shared/fixtures/reference} beside the checkout). Tests that need a missing folder are skipped with a
 * one-line notice, never silently passed; where the fixtures are {@linkplain #required() required} (CI) they fail
 * instead, so a parity test cannot pass in CI by not running.
 */
public final class Fixtures {

    private static final ObjectMapper JSON = new ObjectMapper();

    private Fixtures() {
    }

    /** The fixture root, whether or not it exists. */
    public static Path root() {
        String env = System.getenv("FIXTURES_DIR");
        if (env != null && !env.isBlank()) {
            return Paths.get(env).toAbsolutePath().normalize();
        }
        String prop = System.getProperty("fixtures.dir");
        if (prop != null && !prop.isBlank()) {
            return Paths.get(prop).toAbsolutePath().normalize();
        }
        return Paths.get("../shared/fixtures/reference").toAbsolutePath().normalize();
    }

    /**
     * Whether a missing fixture folder is an error rather than a reason to skip: {@code FIXTURES_REQUIRED=true} in the
     * environment or the {@code fixtures.required} system property (the build passes {@code -Dfixtures.required}).
     */
    public static boolean required() {
        String env = System.getenv("FIXTURES_REQUIRED");
        return Boolean.parseBoolean(env != null && !env.isBlank() ? env.trim() : System.getProperty("fixtures.required"));
    }

    /**
     * The case folder {@code relative} under the root. If it is absent the calling test is skipped with a notice, or
     * fails where the fixtures are {@linkplain #required() required}.
     */
    public static Path require(String relative) {
        Path dir = root().resolve(relative);
        if (!Files.isDirectory(dir)) {
            missing(dir);
        }
        return dir;
    }

    /**
     * Whether the fixture folder {@code relative} exists; where the fixtures are {@linkplain #required() required} an
     * absent folder fails the caller instead of answering false (every caller skips its checks on false).
     */
    public static boolean present(String relative) {
        Path dir = root().resolve(relative);
        if (Files.isDirectory(dir)) {
            return true;
        }
        if (required()) {
            missing(dir);
        }
        return false;
    }

    /**
     * Every case sub-folder of {@code relative} (sorted), e.g. all of {@code schedulers/*}; empty if the parent is
     * absent, in which case callers should emit a single skipped test via {@link #require(String)}, as
     * {@link #eachCase(String, ThrowingConsumer)} does (where the fixtures are {@linkplain #required() required}, an
     * absent or empty parent fails here).
     */
    public static List<Path> cases(String relative) {
        Path dir = root().resolve(relative);
        if (!Files.isDirectory(dir)) {
            if (required()) {
                missing(dir);
            }
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> cases = s.filter(Files::isDirectory).filter(p -> Files.exists(p.resolve("meta.json"))).sorted()
                    .toList();
            if (cases.isEmpty() && required()) {
                Assertions.fail("fixture folder " + dir + " holds no case folder (sub-folders with a meta.json)");
            }
            return cases;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * One dynamic test per {@linkplain #cases(String) case folder} of {@code parent}, named by the case's
     * {@linkplain #displayName(Path) path under the root} (CI reports rely on it), running {@code test} on the folder;
     * with no case, a single test named {@code "<parent> (absent)"} that skips with a notice or fails where the
     * fixtures are {@linkplain #required() required}.
     */
    public static List<DynamicTest> eachCase(String parent, ThrowingConsumer<Path> test) {
        return eachCase(parent, "", test);
    }

    /** As {@link #eachCase(String, ThrowingConsumer)}, each name followed by {@code suffix} (e.g. {@code " fp16"}). */
    public static List<DynamicTest> eachCase(String parent, String suffix, ThrowingConsumer<Path> test) {
        return eachCase(cases(parent), parent, suffix, test);
    }

    /** As {@link #eachCase(String, ThrowingConsumer)} over cases found otherwise, requiring {@code missing} if none. */
    public static List<DynamicTest> eachCase(List<Path> cases, String missing, ThrowingConsumer<Path> test) {
        return eachCase(cases, missing, "", test);
    }

    private static List<DynamicTest> eachCase(List<Path> cases, String missing, String suffix,
            ThrowingConsumer<Path> test) {
        if (cases.isEmpty()) {
            return absent(missing);
        }
        return cases.stream().map(dir -> DynamicTest.dynamicTest(displayName(dir) + suffix, () -> test.accept(dir)))
                .toList();
    }

    /**
     * The dynamic tests {@code tests} builds from the single case folder {@code folder}; if it is absent, a single
     * test named {@code "<folder> (absent)"} that skips with a notice or fails where the fixtures are required.
     */
    public static List<DynamicTest> withCase(String folder, Function<Path, List<DynamicTest>> tests) {
        return present(folder) ? tests.apply(root().resolve(folder)) : absent(folder);
    }

    /** A check of a case folder, named {@code "<case> <what>"} in the reports; see {@link #checks}. */
    public record Check(String what, ThrowingConsumer<Path> test) {
    }

    public static Check check(String what, ThrowingConsumer<Path> test) {
        return new Check(what, test);
    }

    /**
     * One dynamic test per check of the single case folder {@code folder}, named {@code "<case> <what>"}; if the
     * folder is absent, the single {@code "<folder> (absent)"} stand-in of {@link #withCase}.
     */
    public static List<DynamicTest> checks(String folder, Check... checks) {
        return withCase(folder, dir -> Arrays.stream(checks)
                .map(c -> DynamicTest.dynamicTest(displayName(dir) + " " + c.what(), () -> c.test().accept(dir)))
                .toList());
    }

    /**
     * One dynamic test per file under the fixture root that {@code filter} keeps (sorted, named by its path under the
     * root); with no root, a single test named {@code "fixture root (absent)"} that skips or fails as above. Fails if
     * the root holds no such file ({@code what} names them in the message).
     */
    public static List<DynamicTest> eachFile(String what, Predicate<Path> filter, ThrowingConsumer<Path> test) {
        Path root = root();
        if (!Files.isDirectory(root)) {
            return List.of(DynamicTest.dynamicTest("fixture root (absent)", () -> require(".")));
        }
        List<Path> files;
        try (Stream<Path> walk = Files.walk(root)) {
            files = walk.filter(filter).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Assertions.assertFalse(files.isEmpty(), "no " + what + " under " + root);
        return files.stream().map(f -> DynamicTest.dynamicTest(displayName(f), () -> test.accept(f))).toList();
    }

    /** The single stand-in test for a missing fixture folder: skipped with a notice, or failed where required. */
    private static List<DynamicTest> absent(String folder) {
        return List.of(DynamicTest.dynamicTest(folder + " (absent)", () -> require(folder)));
    }

    /** Skips the calling test with a one-line notice, or fails it where the fixtures are required. */
    private static void missing(Path dir) {
        if (required()) {
            Assertions.fail("fixture folder " + dir + " is absent, and the fixtures are required here (FIXTURES_REQUIRED"
                    + " / -Dfixtures.required): set FIXTURES_DIR to the reference fixtures");
        }
        String notice = "SKIPPED: fixture folder " + dir + " is absent (set FIXTURES_DIR to the reference fixtures)";
        System.err.println(notice);
        Assumptions.abort(notice);
    }

    /** Path of {@code dir} relative to the fixture root with '/' separators, for display names. */
    public static String displayName(Path dir) {
        return root().relativize(dir.toAbsolutePath().normalize()).toString().replace('\\', '/');
    }

    public static JsonNode json(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    public static JsonNode meta(Path caseDir) {
        return json(caseDir.resolve("meta.json"));
    }
}
