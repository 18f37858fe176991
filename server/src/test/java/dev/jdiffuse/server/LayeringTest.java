package dev.jdiffuse.server;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server's packages form layers and import only downward, so no holder object or late binding is needed to
 * break a cycle. From the top: the entry point and wiring ({@code dev.jdiffuse.server}), the command line, the HTTP
 * API, metrics, the WebSocket streams, images, jobs, the model registry, the LoRA library, and the HTTP plumbing
 * every layer shares ({@code web}).
 */
class LayeringTest {

    static final List<String> LAYERS = List.of("", "cli", "comfy", "openai", "sdapi", "api", "metrics", "stream", "images",
            "auth", "storage", "jobs", "models", "loras", "embeddings", "notify", "web");
    private static final Pattern IMPORT = Pattern.compile("^import (?:static )?dev\\.jdiffuse\\.server\\.([A-Za-z]+)",
            Pattern.MULTILINE);

    @Test
    void packagesImportOnlyDownward() throws IOException {
        Path root = Path.of("src/main/java/dev/jdiffuse/server");
        List<String> upward = new ArrayList<>();
        int files = 0;
        try (Stream<Path> sources = Files.walk(root)) {
            for (Path file : sources.filter(p -> p.toString().endsWith(".java")).toList()) {
                files++;
                String pkg = root.relativize(file.getParent()).toString().replace('/', '.');
                int rank = LAYERS.indexOf(pkg);
                assertTrue(rank >= 0, "package '" + pkg + "' of " + file + " is not in a layer: add it to LAYERS");
                Matcher m = IMPORT.matcher(Files.readString(file));
                while (m.find()) {
                    String name = m.group(1);
                    String target = Character.isUpperCase(name.charAt(0)) ? "" : name; // a class of the root
                    int targetRank = LAYERS.indexOf(target);
                    if (!target.equals(pkg) && targetRank <= rank) {
                        upward.add(file.getFileName() + " (" + (pkg.isEmpty() ? "root" : pkg) + ") imports " + target);
                    }
                }
            }
        }
        assertTrue(files > 30, "read the server's sources (" + files + " files)");
        assertEquals(List.of(), upward, "imports that point up or sideways");
    }
}
