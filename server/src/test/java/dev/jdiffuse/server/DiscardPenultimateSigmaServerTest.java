package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngText;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The native {@code discard_penultimate_sigma} over HTTP (scripted pipeline): it reaches the pipeline's request, the
 * job records it in its parameters and the PNG's JSON, and the A1111 infotext carries {@code Discard penultimate
 * sigma: True} where A1111 would need its setting to repeat the run (not for DPM2, which drops the level by itself);
 * absent or null it is off; a value that is not a boolean is a 400 naming it. The levels themselves:
 * {@code PenultimateSigmaPipelineTest} (models) and the ComfyUI and A1111 fixture tests.
 */
class DiscardPenultimateSigmaServerTest {

    static TestServer ts;

    @BeforeAll
    static void start() {
        ts = new TestServer(0);
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    /** The job of {@code body}, finished, and its image's PNG text. */
    private static Map<String, String> run(String body, boolean dropped) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(10));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        assertEquals(dropped, ts.pipeline.last.discardPenultimateSigma(), body);
        JsonNode params = ts.get("/v1/generations/" + id).json().get("parameters");
        assertEquals(dropped, params.has("discard_penultimate_sigma"), body + ": " + params);
        assertEquals(dropped, params.path("discard_penultimate_sigma").asBoolean(false), body);
        Map<String, String> text = PngText.read(ts.get("/v1/generations/" + id + "/images/0").raw().body());
        JsonNode meta = TestServer.JSON.readTree(text.get(ImageMetadata.JSON_KEYWORD));
        assertEquals(dropped, meta.path("discard_penultimate_sigma").asBoolean(false), body);
        return text;
    }

    @Test
    void theFieldReachesTheJobAndItsRecords() throws Exception {
        String euler = run("{\"steps\":3,\"sampler\":\"euler\",\"discard_penultimate_sigma\":true}", true)
                .get(ImageMetadata.A1111_KEYWORD);
        assertTrue(euler.contains(", Discard penultimate sigma: True,"), euler);
        assertEquals(3, ts.pipeline.last.steps(), "the request's steps");
        String dpm2 = run("{\"steps\":3,\"sampler\":\"dpm_2\",\"discard_penultimate_sigma\":true}", true)
                .get(ImageMetadata.A1111_KEYWORD);
        assertFalse(dpm2.contains("Discard penultimate sigma"), "A1111's DPM2 drops the level by itself: " + dpm2);
        for (String off : new String[] {"", ",\"discard_penultimate_sigma\":false",
                ",\"discard_penultimate_sigma\":null"}) {
            String text = run("{\"steps\":3,\"sampler\":\"euler\"" + off + "}", false).get(ImageMetadata.A1111_KEYWORD);
            assertFalse(text.contains("Discard penultimate sigma"), text);
        }
    }

    @Test
    void aValueThatIsNotABooleanIs400NamingTheField() throws Exception {
        for (String value : new String[] {"\"true\"", "1", "0", "[true]", "{}"}) {
            for (String path : new String[] {"/v1/generations", "/v1/schedule"}) {
                TestServer.Reply r = ts.post(path, "{\"steps\":3,\"discard_penultimate_sigma\":" + value + "}");
                assertEquals(400, r.status(), () -> value + ": " + new String(r.raw().body()));
                assertEquals("invalid_type", r.errorCode(), value);
                assertEquals("discard_penultimate_sigma", r.errorField(), value);
            }
        }
    }
}
