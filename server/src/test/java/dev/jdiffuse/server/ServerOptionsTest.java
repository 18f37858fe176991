package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.models.DeviceNames;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
    void embeddingsDefaultToTheFolderBesideTheModels(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
            throws Exception {
        java.nio.file.Path models = java.nio.file.Files.createDirectory(tmp.resolve("models"));
        assertEquals(null, ServerOptions.parse(List.of("--models", models.toString()), Map.of()).embeddings(),
                "no embeddings folder beside the models: none");
        java.nio.file.Path beside = java.nio.file.Files.createDirectory(tmp.resolve("embeddings"));
        assertEquals(beside.toAbsolutePath().normalize(),
                ServerOptions.parse(List.of("--models", models.toString()), Map.of()).embeddings());
        assertEquals(java.nio.file.Path.of("/e"), ServerOptions.parse(List.of("--models", models.toString()),
                Map.of("JDIFFUSE_EMBEDDINGS", "/e")).embeddings(), "the environment names another");
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

    @Test
    void devicesListTheWorkersAndDefaultToTheOneDevice() {
        assertEquals(List.of("auto"), ServerOptions.parse(List.of(), Map.of()).devices());
        assertEquals(List.of("cuda:1"), ServerOptions.parse(List.of("--device", "cuda:1"), Map.of()).devices());
        assertEquals(List.of("cuda:0", "cuda:1"), ServerOptions.parse(List.of("--devices", "cuda:0, cuda:1"),
                Map.of("JDIFFUSE_DEVICE", "cpu")).devices(), "--devices replaces --device");
        assertEquals(List.of("cpu", "cpu"), ServerOptions.parse(List.of(), Map.of("JDIFFUSE_DEVICES", "cpu,cpu"))
                .devices(), "the same device twice: two workers");
        assertEquals(List.of("cuda"), ServerOptions.parse(List.of("--devices", "cuda"), Map.of()).devices());
        assertEquals("cpu", ServerOptions.parse(List.of("--devices", "cpu,cuda:0"), Map.of()).device());
        assertEquals(List.of("cpu#0", "cpu#1", "cuda:0"), DeviceNames.labels(List.of("cpu", "cpu", "cuda:0")));
        assertTrue(ServerOptions.usage().contains("JDIFFUSE_DEVICES"));
    }

    @Test
    void badDeviceListsAreRefusedNamingTheEntry() {
        Map<String, String> wanted = new java.util.LinkedHashMap<>();
        wanted.put("cuda:0,,cuda:1", "empty entry");
        wanted.put("cuda:0,", "empty entry");
        wanted.put("gpu0", "'gpu0' is not a device");
        wanted.put("cuda:0,cuda:-1", "'cuda:-1' is not a device");
        wanted.put("cuda:x", "'cuda:x' is not a device");
        wanted.put("cuda:01", "'cuda:01' is not a device");
        wanted.put("CUDA:0", "'CUDA:0' is not a device");
        wanted.put("auto,cpu", "auto stands only alone");
        wanted.put(" ", "--devices is empty");
        wanted.forEach((list, message) -> {
            String m = assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--devices",
                    list), Map.of()), list).getMessage();
            assertTrue(m.startsWith("--devices") && m.contains(message), list + ": " + m);
        });
        String many = String.join(",", java.util.Collections.nCopies(DeviceNames.MAX_DEVICES + 1, "cpu"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--devices", many),
                Map.of())).getMessage().contains("at most " + DeviceNames.MAX_DEVICES));
        String env = assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of(),
                Map.of("JDIFFUSE_DEVICES", "cuda:0;cuda:1"))).getMessage();
        assertTrue(env.contains("'cuda:0;cuda:1' is not a device"), env);
        assertThrows(IllegalArgumentException.class, () -> ServerOptions.defaults().withDevices(List.of()));
        assertThrows(IllegalArgumentException.class, () -> ServerOptions.defaults().withDevices(List.of("auto",
                "auto")));
    }

    @Test
    void decodingFollowsTheForwardSizeUnlessCappedOnItsOwn() {
        assertEquals(1, ServerOptions.parse(List.of(), Map.of()).batching().decodeImages());
        assertEquals(8, ServerOptions.parse(List.of("--batch-images", "8"), Map.of()).batching().decodeImages());
        assertEquals(2, ServerOptions.parse(List.of("--batch-images", "8", "--batch-decode-images", "2"), Map.of())
                .batching().decodeImages());
        assertEquals(1, ServerOptions.parse(List.of("--batch-images", "8"), Map.of("JDIFFUSE_BATCH_DECODE_IMAGES",
                "1")).batching().decodeImages(), "1: each job decodes alone");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of(
                "--batch-decode-images", "-1"), Map.of())).getMessage().contains("--batch-decode-images"));
        assertTrue(ServerOptions.usage().contains("JDIFFUSE_BATCH_DECODE_IMAGES"));
    }

    @Test
    void warmUpBatchSizesParseFromRangesAndLists() {
        assertNull(ServerOptions.parse(List.of(), Map.of()).batching().warmup(), "auto by default");
        assertNull(ServerOptions.parse(List.of("--warmup-batches", "auto"), Map.of()).batching().warmup());
        assertEquals(List.of(1, 2, 3, 4, 8, 16), ServerOptions.parse(List.of("--warmup-batches", "16,1-4,8,2"),
                Map.of()).batching().warmup(), "ascending, each once");
        assertEquals(List.of(1, 2), ServerOptions.parse(List.of(), Map.of("JDIFFUSE_WARMUP_BATCHES", "1-2"))
                .batching().warmup());
        assertEquals(List.of(), ServerOptions.parse(List.of("--warmup-batches", "none"), Map.of()).batching()
                .warmup());
        for (String bad : List.of("0", "4-2", "x", "1-300")) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of(
                    "--warmup-batches", bad), Map.of())).getMessage().contains("--warmup-batches"), bad);
        }
    }

    @Test
    void t5DeviceIsOptionalAndChecked() {
        assertEquals(null, ServerOptions.parse(List.of(), Map.of()).t5Device(), "with the model by default");
        assertEquals("cpu", ServerOptions.parse(List.of("--t5-device", "cpu"), Map.of()).t5Device());
        assertEquals("cuda:1", ServerOptions.parse(List.of(), Map.of("JDIFFUSE_T5_DEVICE", "cuda:1")).t5Device());
        for (String bad : List.of("auto", "gpu", "cuda:x")) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of(
                    "--t5-device", bad), Map.of())).getMessage().contains("--t5-device"), bad);
        }
    }
}
