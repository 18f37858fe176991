package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ServerOptionsTest {

    @Test
    void defaultsEnvironmentAndFlagsInThatOrder() {
        ServerOptions d = ServerOptions.parse(List.of(), Map.of());
        assertEquals(ServerOptions.DEFAULT_PORT, d.port());
        assertEquals("127.0.0.1", d.host());
        assertEquals(Limits.DEFAULTS, d.limits());
        ServerOptions o = ServerOptions.parse(List.of("--port", "9000", "--max-steps=80", "--models", "/m"),
                Map.of("JDIFFUSE_PORT", "8000", "JDIFFUSE_QUEUE_SIZE", "3", "JDIFFUSE_DEVICE", "cpu"));
        assertEquals(9000, o.port(), "a flag wins over the environment");
        assertEquals(3, o.queueSize());
        assertEquals("cpu", o.device());
        assertEquals(80, o.limits().maxSteps());
        assertEquals(Path.of("/m"), o.models());
    }

    @Test
    void badInputNamesTheFlag() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--nope", "1"),
                Map.of())).getMessage().contains("--nope"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--port", "x"),
                Map.of())).getMessage().contains("--port"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--device",
                "tpu"), Map.of())).getMessage().contains("--device"));
        assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--queue-size", "0"),
                Map.of()));
        assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--port"), Map.of()));
        assertTrue(ServerOptions.usage().contains("JDIFFUSE_MAX_UPLOAD_BYTES"));
    }
}
