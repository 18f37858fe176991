package dev.jdiffuse.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds the reference fixtures: {@code $FIXTURES_DIR}, else the {@code fixtures.dir} system property (set by the build
 * to {@code ../shared/fixtures/reference} beside the checkout). Tests that need a missing folder are skipped with a
 * one-line notice, never failed and never silently passed.
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

    /** The case folder {@code relative} under the root; skips the calling test with a notice if it is absent. */
    public static Path require(String relative) {
        Path dir = root().resolve(relative);
        boolean present = Files.isDirectory(dir);
        if (!present) {
            String notice = "SKIPPED: fixture folder " + dir + " is absent (set FIXTURES_DIR to the reference fixtures)";
            System.err.println(notice);
            Assumptions.abort(notice);
        }
        return dir;
    }

    /** Whether the fixture folder {@code relative} exists. */
    public static boolean present(String relative) {
        return Files.isDirectory(root().resolve(relative));
    }

    /**
     * Every case sub-folder of {@code relative} (sorted), e.g. all of {@code schedulers/*}; empty if the parent is
     * absent, in which case callers should emit a single skipped test via {@link #require(String)}.
     */
    public static List<Path> cases(String relative) {
        Path dir = root().resolve(relative);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isDirectory).filter(p -> Files.exists(p.resolve("meta.json"))).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
