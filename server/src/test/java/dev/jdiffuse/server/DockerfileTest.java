package dev.jdiffuse.server;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the runtime stage of {@code docker/Dockerfile} promises (docker/README.md, docs/security.md), read from the file
 * (this project's CI has no Docker engine to build it): it runs as a user other than root, with DJL offline.
 */
class DockerfileTest {

    @Test
    void theRuntimeStageRunsAsAnUnprivilegedUserAndOffline() throws Exception {
        Path file = Path.of(System.getProperty("maven.multiModuleProjectDirectory", ".."), "docker", "Dockerfile");
        if (!Files.exists(file)) {
            file = Path.of("..", "docker", "Dockerfile");
        }
        List<String> lines = Files.readAllLines(file);
        int lastFrom = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith("FROM ")) {
                lastFrom = i;
            }
        }
        assertTrue(lastFrom >= 0, "no FROM");
        List<String> runtime = lines.subList(lastFrom, lines.size());
        String user = null;
        for (String l : runtime) {
            if (l.startsWith("USER ")) {
                user = l.substring(5).strip();
            }
        }
        assertTrue(user != null, "the runtime stage sets no USER: it would run as root");
        assertFalse(user.equals("root") || user.equals("0") || user.startsWith("0:") || user.startsWith("root:"),
                "USER " + user);
        int userAt = runtime.indexOf("USER " + user);
        int entry = -1;
        for (int i = 0; i < runtime.size(); i++) {
            if (runtime.get(i).startsWith("ENTRYPOINT ")) {
                entry = i;
            }
        }
        assertTrue(entry > userAt, "USER comes before the ENTRYPOINT");
        assertTrue(runtime.get(entry).contains("-Dai.djl.offline=true"), runtime.get(entry));
    }
}
