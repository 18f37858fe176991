package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12, item 8 over real HTTP: run, stop, start again on the same output folder; the finished job, its image
 * (written as a PNG in a dated folder) and the jobs the stop cut short (recorded as cancelled, reason
 * {@code shutdown}) all still answer, and the list shows them.
 */
class RestartTest {

    @Test
    void jobsAndImagesSurviveARestart(@TempDir Path out) throws Exception {
        ServerOptions options = ServerOptions.defaults().withSafety(Safety.DEFAULTS.withOutputDir(out)
                .withShutdownGrace(Duration.ofMillis(200)));
        String done;
        String held;
        String queued;
        byte[] png;
        TestServer first = new TestServer(options, new ScriptedPipeline(0));
        try {
            done = first.submit("{\"prompt\":\"kept\",\"steps\":2,\"seed\":5}");
            assertEquals("succeeded", first.await(done, Duration.ofSeconds(5)).get("status").asText());
            png = first.get("/v1/generations/" + done + "/images/0").raw().body();
            held = first.submitHeld("{\"prompt\":\"hold\",\"steps\":2}");
            queued = first.submit("{\"steps\":1}");
            first.server.close(); // the held job outlives the grace: cancelled, and its end never recorded
        } finally {
            first.pipeline.release();
        }
        try (Stream<Path> files = Files.walk(out)) {
            Path written = files.filter(p -> p.getFileName().toString().equals(done + "-0.png")).findFirst()
                    .orElseThrow(() -> new AssertionError("no PNG of " + done + " under " + out));
            assertTrue(written.getParent().getFileName().toString().matches("\\d{4}-\\d{2}-\\d{2}"), "dated");
            assertArrayEquals(png, Files.readAllBytes(written));
        }

        try (TestServer second = new TestServer(options, new ScriptedPipeline(0))) {
            JsonNode record = second.get("/v1/generations/" + done).json();
            assertEquals("succeeded", record.get("status").asText());
            assertEquals("kept", record.at("/parameters/prompt").asText());
            assertEquals(5, record.at("/parameters/seed").asLong());
            assertEquals("/v1/generations/" + done + "/images/0", record.at("/images/0").asText());
            TestServer.Reply image = second.get("/v1/generations/" + done + "/images/0");
            assertEquals(200, image.status());
            assertArrayEquals(png, image.raw().body());
            for (String cut : new String[] {held, queued}) {
                JsonNode r = second.get("/v1/generations/" + cut).json();
                assertEquals("cancelled", r.get("status").asText(), cut);
                assertEquals("shutdown", r.at("/error/code").asText(), cut);
            }
            String later = second.submit("{\"steps\":1}");
            second.await(later, Duration.ofSeconds(5));
            Set<String> listed = new HashSet<>();
            second.get("/v1/generations").json().get("generations").forEach(g -> listed.add(g.get("id").asText()));
            assertEquals(Set.of(done, held, queued, later), listed);
            JsonNode page = second.get("/v1/generations?limit=1").json().get("generations");
            assertEquals(1, page.size());
            assertEquals(later, page.get(0).get("id").asText(), "newest first");
        }
    }
}
