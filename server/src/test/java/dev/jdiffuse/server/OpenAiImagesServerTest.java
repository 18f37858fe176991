package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.auth.ApiKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenAI's {@code POST /v1/images/generations} over real HTTP around the scripted pipeline (whose image is a solid
 * colour of its seed): response shape, one image per seed {@code seed + i}, {@code b64_json} and {@code url},
 * {@code "auto"} size, the jdiffuse extensions reaching the native job, errors in OpenAI's shape naming the OpenAI
 * field, and API keys (OpenAI's Bearer) as on the native routes.
 */
class OpenAiImagesServerTest {

    private static final String ROUTE = "/v1/images/generations";

    @TempDir
    Path dir;

    static BufferedImage decode(String b64) throws Exception {
        return ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64)));
    }

    /** The scripted pipeline's colour for {@code seed} (batch index 0). */
    private static int colour(long seed) {
        return (int) (seed * 31) & 0xffffff;
    }

    private static void assertOpenAiError(TestServer.Reply r, int status, String param) {
        assertEquals(status, r.status(), () -> new String(r.raw().body()));
        JsonNode e = r.json().get("error");
        assertNotNull(e, r.json().toString());
        assertTrue(e.get("message").isTextual() && !e.get("message").asText().isBlank(), e.toString());
        assertEquals("invalid_request_error", e.get("type").asText(), e.toString());
        assertTrue(e.has("param") && e.has("code"), e.toString());
        if (param == null) {
            assertTrue(e.get("param").isNull(), e.toString());
        } else {
            assertEquals(param, e.get("param").asText(), e.toString());
        }
    }

    @Test
    void b64ImagesOnePerSeedOfTheRequestedSize() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            long before = System.currentTimeMillis() / 1000;
            TestServer.Reply r = ts.post(ROUTE, """
                    {"prompt":"a cat","model":"gpt-image-1","n":2,"size":"64x96","seed":40,"quality":"hd",
                     "style":"vivid","user":"u1","moderation":"low","output_format":"png","background":"auto"}""");
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            long created = r.json().get("created").asLong();
            assertTrue(created >= before && created <= System.currentTimeMillis() / 1000 + 1, "unix seconds");
            JsonNode data = r.json().get("data");
            assertEquals(2, data.size());
            for (int i = 0; i < 2; i++) {
                JsonNode item = data.get(i);
                assertFalse(item.has("url"), "b64_json is the default for GPT image models");
                assertFalse(item.has("revised_prompt"), "the prompt was used as given");
                BufferedImage img = decode(item.get("b64_json").asText());
                assertEquals(64, img.getWidth());
                assertEquals(96, img.getHeight());
                assertEquals(colour(40 + i), img.getRGB(10, 10) & 0xffffff, "image " + i + " has seed 40+" + i);
            }
            assertEquals("64x96", r.json().get("size").asText());
            assertEquals("png", r.json().get("output_format").asText());
            assertEquals(2, ts.pipeline.runsOf("a cat"));
        }
    }

    /** {@code GET /v1/models} also in OpenAI's list shape, as the openai SDK's {@code models.list()} reads it. */
    @Test
    void modelsAreListedInOpenAisShapeToo() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            JsonNode r = ts.get("/v1/models").json();
            assertEquals("list", r.get("object").asText());
            assertEquals("tiny", r.at("/data/0/id").asText());
            assertEquals("model", r.at("/data/0/object").asText());
            assertTrue(r.at("/data/0/created").isIntegralNumber() && r.at("/data/0/owned_by").isTextual(),
                    r.toString());
            assertEquals("tiny", r.at("/models/0/name").asText(), "the native list is unchanged");
        }
    }

    /** As OpenAI: without {@code response_format}, DALL-E models answer URLs (LibreChat's DALL-E tool reads them). */
    @Test
    void dallEModelsAnswerUrlsByDefault() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            for (String model : new String[] {"dall-e-3", "dall-e-2"}) {
                TestServer.Reply r = ts.post(ROUTE, "{\"prompt\":\"a fox\",\"model\":\"" + model
                        + "\",\"size\":\"64x64\",\"seed\":3}");
                assertEquals(200, r.status(), () -> new String(r.raw().body()));
                JsonNode item = r.json().at("/data/0");
                assertTrue(item.get("url").asText().startsWith(ts.base + "/v1/generations/"), item.toString());
                assertFalse(item.has("b64_json"), model);
            }
            TestServer.Reply inline = ts.post(ROUTE, """
                    {"prompt":"a fox","model":"dall-e-3","size":"64x64","seed":3,"response_format":"b64_json"}""");
            assertTrue(inline.json().at("/data/0").has("b64_json"), "asked for, inline");
        }
    }

    @Test
    void urlsAreTheNativeImageRoutesAndFetchable() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = ts.post(ROUTE, """
                    {"prompt":"a dog","n":2,"size":"64x64","seed":7,"response_format":"url"}""");
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            for (int i = 0; i < 2; i++) {
                String url = r.json().at("/data/" + i + "/url").asText();
                assertTrue(url.startsWith(ts.base + "/v1/generations/") && url.endsWith("/images/0"), url);
                assertFalse(r.json().get("data").get(i).has("b64_json"));
                TestServer.Reply img = ts.send(HttpRequest.newBuilder(URI.create(url)).GET());
                assertEquals(200, img.status());
                BufferedImage b = ImageIO.read(new ByteArrayInputStream(img.raw().body()));
                assertEquals(colour(7 + i), b.getRGB(0, 0) & 0xffffff);
            }
        }
    }

    @Test
    void autoSizeIsTheModelDefaultAndExtensionsReachTheJob() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = ts.post(ROUTE, """
                    {"prompt":"x","size":"auto","seed":3,"response_format":"url","negative_prompt":"blur",
                     "steps":3,"cfg_scale":6.5,"sampler":"heun","model":"tiny"}""");
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            String url = r.json().at("/data/0/url").asText();
            String job = url.substring(ts.base.length(), url.length() - "/images/0".length());
            JsonNode p = ts.get(job).json().get("parameters");
            assertEquals(64, p.get("width").asInt(), "the scripted model's default size is 64x64");
            assertEquals(64, p.get("height").asInt());
            assertEquals("blur", p.get("negative_prompt").asText());
            assertEquals(3, p.get("steps").asInt());
            assertEquals(6.5, p.get("guidance_scale").asDouble());
            assertEquals("heun", p.get("sampler").asText());
            assertEquals(3, p.get("seed").asLong());
            assertEquals("64x64", r.json().get("size").asText());
            // no seed: a drawn one, still seed + i across the images
            TestServer.Reply drawn = ts.post(ROUTE, "{\"prompt\":\"y\",\"n\":2,\"size\":\"64x64\"}");
            assertEquals(200, drawn.status());
            int c0 = decode(drawn.json().at("/data/0/b64_json").asText()).getRGB(0, 0) & 0xffffff;
            int c1 = decode(drawn.json().at("/data/1/b64_json").asText()).getRGB(0, 0) & 0xffffff;
            assertEquals((c0 + 31) & 0xffffff, c1, "image 1's seed is image 0's + 1");
        }
    }

    @Test
    void errorsAreInOpenAisShapeAndNameTheField() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            assertOpenAiError(ts.post(ROUTE, "{\"size\":\"64x64\"}"), 400, "prompt");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"\"}"), 400, "prompt");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":7}"), 400, "prompt");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"size\":\"big\"}"), 400, "size");
            // the native validator's refusals of width and height are OpenAI's size
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"size\":\"65x64\"}"), 400, "size");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"size\":\"64x0\"}"), 400, "size");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"size\":\"99999x99999\"}"), 400, "size");
            TestServer.Reply unknown = ts.post(ROUTE, "{\"prompt\":\"x\",\"model\":\"sdxl-nope\"}");
            assertOpenAiError(unknown, 404, "model");
            assertEquals("model_not_found", unknown.json().at("/error/code").asText());
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"n\":0}"), 400, "n");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"n\":11}"), 400, "n");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"n\":1.5}"), 400, "n");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"response_format\":\"png\"}"), 400,
                    "response_format");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"output_format\":\"jpeg\"}"), 400,
                    "output_format");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"background\":\"transparent\"}"), 400,
                    "background");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"stream\":true}"), 400, "stream");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"sampler\":\"nope\"}"), 400, "sampler");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"steps\":0}"), 400, "steps");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"seed\":-5}"), 400, "seed");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"cfg_scale\":-3}"), 400, "cfg_scale");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"guidance_scale\":-3}"), 400, "guidance_scale");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"quality\":3}"), 400, "quality");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\""), 400, null);
            assertOpenAiError(ts.post(ROUTE, "[1,2]"), 400, "body");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\",\"prompt\":\"y\"}"), 400, null);
            // the server's own refusals on this path are in OpenAI's shape too
            assertOpenAiError(ts.send(HttpRequest.newBuilder(URI.create(ts.base + ROUTE))
                    .header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString("{}"))), 415,
                    null);
            assertOpenAiError(ts.post("/v1/images/variations", "{}"), 404, null);
            assertEquals(0, ts.pipeline.runsOf("x"), "no refused request ran");
        }
    }

    @Test
    void apiKeysApplyAsOnTheNativeRoutes() throws Exception {
        String alice = ApiKeys.newKey();
        Path keys = dir.resolve("keys");
        Files.write(keys, List.of("alice:" + ApiKeys.sha256Hex(alice) + ":queued=1"));
        try (TestServer ts = new TestServer(ServerOptions.defaults().withSafety(Safety.DEFAULTS.withApiKeys(keys)),
                new ScriptedPipeline(0))) {
            String body = "{\"prompt\":\"k\",\"n\":3,\"size\":\"64x64\",\"seed\":1,\"response_format\":\"url\"}";
            assertOpenAiError(ts.post(ROUTE, body), 401, null);
            TestServer.Reply wrong = ts.send(HttpRequest.newBuilder(URI.create(ts.base + ROUTE))
                    .header("Authorization", "Bearer sk-not-a-key").header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)));
            assertOpenAiError(wrong, 401, null);
            // alice may have one job at a time: her three images run one after another
            TestServer.Reply r = ts.send(HttpRequest.newBuilder(URI.create(ts.base + ROUTE))
                    .header("Authorization", "Bearer " + alice).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            assertEquals(3, r.json().get("data").size());
            String url = r.json().at("/data/2/url").asText();
            assertEquals(401, ts.send(HttpRequest.newBuilder(URI.create(url)).GET()).status(),
                    "the image URL needs the key too");
            TestServer.Reply img = ts.send(HttpRequest.newBuilder(URI.create(url))
                    .header("Authorization", "Bearer " + alice).GET());
            assertEquals(200, img.status());
            assertEquals(colour(3), ImageIO.read(new ByteArrayInputStream(img.raw().body())).getRGB(0, 0)
                    & 0xffffff);
        }
    }
}
