package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.images.PngText;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server over real HTTP with the real models: the tiny fixture pipelines ({@code pipeline_sd1/model} and
 * {@code pipeline_controlnet/model}) loaded through the production loader from a models folder.
 */
class FixturePipelineServerTest {

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present("pipeline_sd1/model") || !Fixtures.present("pipeline_controlnet/model")) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-models");
        TestServer.linkFixture(models, "tiny-sd1", "pipeline_sd1/model");
        TestServer.linkFixture(models, "tiny-controlnet", "pipeline_controlnet/model");
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    @Test
    void generatesWithPreviewsOverWebSocketAndServesAReproduciblePng() throws Exception {
        Fixtures.require("pipeline_sd1/model");
        JsonNode listed = ts.get("/v1/models").json();
        assertTrue(listed.toString().contains("tiny-sd1") && listed.toString().contains("tiny-controlnet"), listed.toString());
        String body = """
                {"model":"tiny-sd1","prompt":"a red apple on a wooden table","negative_prompt":"blurry",
                 "width":128,"height":128,"steps":6,"sampler":"euler_ancestral","guidance_scale":7.5,"seed":1234,
                 "preview":{"method":"rgb","every":1,"max_size":64}}""";
        String id = ts.submit(body);
        List<WsClient.Message> got;
        try (WsClient ws = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/generations/" + id
                + "/stream")) {
            got = ws.untilFinal(id, Duration.ofSeconds(60));
        }
        long steps = got.stream().filter(m -> !m.binary() && m.type().equals("step")).count();
        long previews = got.stream().filter(WsClient.Message::binary).count();
        assertTrue(steps >= 1, "step events: " + steps);
        assertTrue(previews >= 1, "preview frames: " + previews);
        JsonNode done = ts.await(id, Duration.ofSeconds(60));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        byte[] png = ts.get("/v1/generations/" + id + "/images/0").raw().body();
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(128, img.getWidth());
        assertEquals(128, img.getHeight());
        Map<String, String> text = PngText.read(png);
        assertTrue(text.get("parameters").contains("Seed: 1234"), text.toString());

        // the same request again gives the same pixels: the seed fixes the torch-compatible noise stream
        String again = ts.submit(body);
        assertEquals("succeeded", ts.await(again, Duration.ofSeconds(60)).get("status").asText());
        byte[] png2 = ts.get("/v1/generations/" + again + "/images/0").raw().body();
        BufferedImage img2 = ImageIO.read(new ByteArrayInputStream(png2));
        assertTrue(samePixels(img, img2), "same seed, same image");
    }

    @Test
    void appliesAnUploadedControlImage() throws Exception {
        Fixtures.require("pipeline_controlnet/model");
        byte[] control = Files.readAllBytes(Fixtures.root().resolve("pipeline_controlnet/control.png"));
        TestServer.Reply up = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads"))
                .header("Content-Type", "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(control)));
        assertEquals(201, up.status(), new String(up.raw().body()));
        String upload = up.json().get("id").asText();
        String id = ts.submit("""
                {"model":"tiny-controlnet","prompt":"a blue circle above a yellow square","width":128,"height":128,
                 "steps":5,"guidance_scale":5.0,"seed":7,
                 "controlnets":[{"model":"controlnet","image":"%s","scale":0.7,"start":0.0,"end":0.8}]}"""
                .formatted(upload));
        JsonNode done = ts.await(id, Duration.ofSeconds(60));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        assertNotNull(ImageIO.read(new ByteArrayInputStream(
                ts.get("/v1/generations/" + id + "/images/0").raw().body())));
    }

    /**
     * Image-to-image over HTTP: an uploaded picture and a strength run only the schedule's tail, the job record and
     * the PNG say so, and the picture reaches the model (the fixture's weights are random, so only "another init image
     * gives another result with the same seed" can be asserted about the pixels).
     */
    @Test
    void startsFromAnUploadedImage() throws Exception {
        Fixtures.require("pipeline_controlnet/model");
        byte[] picture = Files.readAllBytes(Fixtures.root().resolve("pipeline_controlnet/control.png"));
        BufferedImage init = ImageIO.read(new ByteArrayInputStream(picture));
        BufferedImage inverted = new BufferedImage(init.getWidth(), init.getHeight(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < init.getHeight(); y++) {
            for (int x = 0; x < init.getWidth(); x++) {
                inverted.setRGB(x, y, ~init.getRGB(x, y) & 0xffffff);
            }
        }
        java.io.ByteArrayOutputStream other = new java.io.ByteArrayOutputStream();
        ImageIO.write(inverted, "png", other);
        BufferedImage[] results = new BufferedImage[2];
        byte[][] uploads = {picture, other.toByteArray()};
        for (int k = 0; k < 2; k++) {
            TestServer.Reply up = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads"))
                    .header("Content-Type", "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(uploads[k])));
            assertEquals(201, up.status(), new String(up.raw().body()));
            String upload = up.json().get("id").asText();
            String id = ts.submit("""
                    {"model":"tiny-sd1","prompt":"a red apple","width":%d,"height":%d,"steps":8,"seed":3,
                     "init_image":"%s","strength":0.25}""".formatted(init.getWidth(), init.getHeight(), upload));
            JsonNode done = ts.await(id, Duration.ofSeconds(60));
            assertEquals("succeeded", done.get("status").asText(), done.toString());
            assertEquals(2, done.get("total").asInt(), "steps run: floor(8 x 0.25)");
            assertEquals(2, done.get("step").asInt());
            assertEquals(upload, done.at("/parameters/init_image").asText());
            assertEquals(0.25, done.at("/parameters/strength").asDouble());
            byte[] png = ts.get("/v1/generations/" + id + "/images/0").raw().body();
            assertTrue(PngText.read(png).get("parameters").contains("Denoising strength: 0.25"));
            results[k] = ImageIO.read(new ByteArrayInputStream(png));
        }
        assertFalse(samePixels(results[0], results[1]), "another init image, same seed: another result");
    }

    private static boolean samePixels(BufferedImage a, BufferedImage b) {
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                if (a.getRGB(x, y) != b.getRGB(x, y)) {
                    return false;
                }
            }
        }
        return true;
    }
}
