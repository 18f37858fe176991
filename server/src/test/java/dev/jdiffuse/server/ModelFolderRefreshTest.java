package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The models folder is looked at again while the server runs: a checkpoint dropped in is listed and generates, one
 * removed is dropped (the default stays), a broken file that failed is tried again once replaced, and A1111's
 * refresh button does it at once. Real HTTP on a real port over the production loaders.
 */
class ModelFolderRefreshTest {

    @Test
    void entriesAddedRemovedAndRepairedWhileServing() throws Exception {
        Fixtures.require("pipeline_sd1/model");
        Path single = Fixtures.require("single_file/sd15");
        Path models = Files.createTempDirectory("jdiffuse-refresh");
        TestServer.linkFixture(models, "a-first", "pipeline_sd1/model");
        try (TestServer ts = TestServer.overModels(models)) {
            assertEquals(List.of("a-first"), names(ts));

            TestServer.linkFixture(models, "b-dropped-in", "pipeline_sd1/model");
            Thread.sleep(1100); // listing looks again at most once a second
            assertEquals(List.of("a-first", "b-dropped-in"), names(ts));
            assertEquals("unloaded", state(ts, "b-dropped-in"));
            assertEquals("succeeded", run(ts, "b-dropped-in").path("status").asText());

            // A1111's refresh button: at once, without waiting for the next look
            Files.copy(single.resolve("sd15.safetensors"), models.resolve("c-refreshed.safetensors"));
            Files.createSymbolicLink(models.resolve("c-refreshed.config"), single.resolve("sd15.config"));
            assertEquals(200, ts.post("/sdapi/v1/refresh-checkpoints", "{}").status());
            assertTrue(names(ts).contains("c-refreshed"), names(ts).toString());

            // a broken file fails its job, and loads once replaced by a good one
            Path broken = models.resolve("d-broken.safetensors");
            Files.write(broken, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
            ts.post("/sdapi/v1/refresh-checkpoints", "{}");
            assertEquals("failed", run(ts, "d-broken").path("status").asText());
            assertEquals("failed", state(ts, "d-broken"));
            Files.copy(single.resolve("sd15.safetensors"), broken, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.setLastModifiedTime(broken, FileTime.fromMillis(System.currentTimeMillis() + 5_000));
            Files.createSymbolicLink(models.resolve("d-broken.config"), single.resolve("sd15.config"));
            ts.post("/sdapi/v1/refresh-checkpoints", "{}");
            assertEquals("unloaded", state(ts, "d-broken"), "a changed failed entry is tried again");
            assertEquals("succeeded", run(ts, "d-broken").path("status").asText());

            // removed: an unloaded entry goes; the default model stays even when its folder link goes
            Files.delete(models.resolve("c-refreshed.safetensors"));
            Files.delete(models.resolve("a-first"));
            ts.post("/sdapi/v1/refresh-checkpoints", "{}");
            List<String> left = names(ts);
            assertFalse(left.contains("c-refreshed"), left.toString());
            assertTrue(left.contains("a-first"), "the default model stays listed: " + left);
        }
    }

    private static List<String> names(TestServer ts) throws Exception {
        List<String> out = new ArrayList<>();
        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            out.add(m.get("name").asText());
        }
        return out;
    }

    private static String state(TestServer ts, String name) throws Exception {
        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            if (m.get("name").asText().equals(name)) {
                return m.path("state").asText();
            }
        }
        throw new AssertionError(name + " not listed");
    }

    private static JsonNode run(TestServer ts, String model) throws Exception {
        String id = ts.submit("{\"model\":\"" + model + "\",\"prompt\":\"a red apple\",\"width\":64,\"height\":64,"
                + "\"steps\":2,\"seed\":1}");
        return ts.await(id, Duration.ofSeconds(120));
    }
}
