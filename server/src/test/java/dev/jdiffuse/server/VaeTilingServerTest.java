package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.VaeTiling;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngText;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The native {@code vae_tiling} and {@code vae_tile_size} over HTTP (scripted pipeline): they reach the pipeline's
 * request, and the job's parameters and the PNG's JSON record them where they are not the defaults. The tiling itself:
 * {@code TiledCodingTest}, {@code TiledVaeTest}, {@code VaeTilingPipelineTest} (models); the refusals:
 * {@code ApiErrorsTest}.
 */
class VaeTilingServerTest {

    static TestServer ts;

    @BeforeAll
    static void start() {
        ts = new TestServer(0);
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    /** The finished job of {@code body}: its parameters, checked to be the same in the PNG's JSON. */
    private static JsonNode run(String body) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(10));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        JsonNode params = ts.get("/v1/generations/" + id).json().get("parameters");
        JsonNode meta = TestServer.JSON.readTree(PngText.read(ts.get("/v1/generations/" + id + "/images/0").raw()
                .body()).get(ImageMetadata.JSON_KEYWORD));
        assertEquals(params.path("vae_tiling"), meta.path("vae_tiling"));
        assertEquals(params.path("vae_tile_size"), meta.path("vae_tile_size"));
        return params;
    }

    @Test
    void theChoiceReachesTheJobAndItsRecords() throws Exception {
        JsonNode p = run("{\"steps\":2,\"vae_tiling\":\"always\",\"vae_tile_size\":256}");
        assertEquals(new VaeTiling(VaeTiling.Mode.ALWAYS, 256), ts.pipeline.last.vaeTiling());
        assertEquals("always", p.get("vae_tiling").asText());
        assertEquals(256, p.get("vae_tile_size").asInt());

        p = run("{\"steps\":2,\"vae_tiling\":\"NEVER\"}");
        assertEquals(new VaeTiling(VaeTiling.Mode.NEVER, 0), ts.pipeline.last.vaeTiling());
        assertEquals("never", p.get("vae_tiling").asText());
        assertFalse(p.has("vae_tile_size"), p.toString());

        p = run("{\"steps\":2,\"vae_tile_size\":1024}");
        assertEquals(new VaeTiling(VaeTiling.Mode.AUTO, 1024), ts.pipeline.last.vaeTiling());
        assertFalse(p.has("vae_tiling"), "auto is the default: " + p);
        assertEquals(1024, p.get("vae_tile_size").asInt());

        p = run("{\"steps\":2}");
        assertEquals(VaeTiling.AUTO, ts.pipeline.last.vaeTiling());
        assertFalse(p.has("vae_tiling") || p.has("vae_tile_size"), p.toString());
    }
}
