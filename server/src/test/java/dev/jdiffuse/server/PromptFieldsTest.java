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
 * {@code clip_skip}, {@code prompt_syntax} and the SDXL refiner's {@code aesthetic_score} /
 * {@code negative_aesthetic_score} over real HTTP: ranges and prompt syntax errors are 400s naming the field, the values reach the job's parameters and the PNG's A1111 text ({@code Clip skip: n} only when not 1).
 */
class PromptFieldsTest {

    static TestServer ts;

    @BeforeAll
    static void start() {
        ts = new TestServer(0);
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    private static void expect400(String body, String field) throws Exception {
        TestServer.Reply r = ts.post("/v1/generations", body);
        assertEquals(400, r.status(), body + ": " + new String(r.raw().body()));
        assertEquals("invalid_value", r.errorCode(), body);
        assertEquals(field, r.errorField(), body);
    }

    @Test
    void badValuesAre400NamingTheField() throws Exception {
        expect400("{\"prompt\":\"a (house:1.2.3)\"}", "prompt");
        expect400("{\"prompt\":\"a house\",\"negative_prompt\":\"(blurry:1.2.3)\"}", "negative_prompt");
        expect400("{\"clip_skip\":0}", "clip_skip");
        expect400("{\"clip_skip\":13}", "clip_skip");
        expect400("{\"prompt_syntax\":\"comfy\"}", "prompt_syntax");
        expect400("{\"aesthetic_score\":-1}", "aesthetic_score");
        expect400("{\"aesthetic_score\":10.5}", "aesthetic_score");
        expect400("{\"negative_aesthetic_score\":11}", "negative_aesthetic_score");
        expect400("{\"aesthetic_score\":6,\"negative_aesthetic_score\":-0.5}", "negative_aesthetic_score");
        assertEquals(202, ts.post("/v1/generations", "{\"prompt\":\"a (house:1.2.3)\",\"prompt_syntax\":\"plain\"}")
                .status(), "plain text is never parsed");
    }

    /** The test server's model is not a refiner: valid scores are accepted and, conditioning nothing, not recorded. */
    @Test
    void aestheticScoresAreAcceptedAndRecordedOnlyForTheRefiner() throws Exception {
        JsonNode done = ts.await(ts.submit("{\"prompt\":\"a fox\",\"aesthetic_score\":7.5,"
                + "\"negative_aesthetic_score\":1,\"seed\":5}"), Duration.ofSeconds(10));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        assertFalse(done.get("parameters").has("aesthetic_score"), done.get("parameters").toString());
    }

    @Test
    void clipSkipReachesTheParametersAndThePngText() throws Exception {
        Map<String, String> skip2 = png("{\"prompt\":\"a (red:1.3) fox\",\"clip_skip\":2,\"seed\":5}", 2, "a1111");
        assertTrue(skip2.get(ImageMetadata.A1111_KEYWORD).contains(", Clip skip: 2,"), skip2.toString());
        Map<String, String> skip1 = png("{\"prompt\":\"a fox\",\"prompt_syntax\":\"plain\",\"seed\":5}", 1, "plain");
        assertFalse(skip1.get(ImageMetadata.A1111_KEYWORD).contains("Clip skip"), "A1111 omits the default");
    }

    private static Map<String, String> png(String body, int clipSkip, String syntax) throws Exception {
        JsonNode done = ts.await(ts.submit(body), Duration.ofSeconds(10));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        assertEquals(clipSkip, done.at("/parameters/clip_skip").asInt());
        assertEquals(syntax, done.at("/parameters/prompt_syntax").asText());
        Map<String, String> text = PngText.read(ts.get(done.at("/images/0").asText()).raw().body());
        JsonNode meta = TestServer.JSON.readTree(text.get(ImageMetadata.JSON_KEYWORD));
        assertEquals(clipSkip, meta.get("clip_skip").asInt());
        return text;
    }
}
