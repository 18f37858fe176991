package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.images.PngText;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A1111's {@code POST /sdapi/v1/png-info} over real HTTP: a PNG this server made answers its {@code parameters}
 * text as {@code info}, its other text chunks as {@code items}, and the infotext parsed back into the request's
 * prompt, negative prompt, steps, sampler, CFG scale, seed and size; a PNG without text answers {@code info: ""};
 * what is not base64 or not an image is 422 naming {@code image}.
 */
class SdApiPngInfoTest {

    private static final String ROUTE = "/sdapi/v1/png-info";

    private static String body(String image) {
        return TestServer.JSON.createObjectNode().put("image", image).toString();
    }

    private static void assertRefused(TestServer.Reply r, String field) {
        assertEquals(422, r.status(), () -> new String(r.raw().body()));
        assertEquals(field, r.errorField(), () -> new String(r.raw().body()));
        assertTrue(r.json().has("detail"), "A1111's detail");
    }

    @Test
    void aPngOfThisServerRoundTripsItsParameters() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            String id = ts.submit("""
                    {"prompt":"a cat, on a mat: at noon","negative_prompt":"dog, blurry","steps":3,
                     "sampler":"euler_ancestral","guidance_scale":6.5,"seed":123,"width":64,"height":96}""");
            assertEquals("succeeded", ts.await(id, Duration.ofSeconds(20)).get("status").asText());
            byte[] png = ts.get("/v1/generations/" + id + "/images/0").raw().body();
            String written = PngText.read(png).get("parameters");
            for (String image : new String[] {Base64.getEncoder().encodeToString(png),
                "data:image/png;base64," + Base64.getEncoder().encodeToString(png)}) {
                TestServer.Reply r = ts.post(ROUTE, body(image));
                assertEquals(200, r.status(), () -> new String(r.raw().body()));
                JsonNode j = r.json();
                assertEquals(written, j.get("info").asText());
                assertTrue(j.at("/items/jdiffuse").isTextual(), "the other text chunk: " + j.get("items"));
                assertFalse(j.get("items").has("parameters"), "info is not repeated in items");
                JsonNode p = j.get("parameters");
                assertEquals("a cat, on a mat: at noon", p.get("Prompt").asText());
                assertEquals("dog, blurry", p.get("Negative prompt").asText());
                assertEquals("3", p.get("Steps").asText());
                assertEquals("Euler a", p.get("Sampler").asText());
                assertEquals(6.5, Double.parseDouble(p.get("CFG scale").asText()));
                assertEquals("123", p.get("Seed").asText());
                assertEquals("64", p.get("Size-1").asText());
                assertEquals("96", p.get("Size-2").asText());
                assertEquals("CPU", p.get("RNG").asText(), "the written RNG, not A1111's default");
                assertEquals("1", p.get("Clip skip").asText(), "A1111's default for a key left out");
            }
        }
    }

    @Test
    void aPngWithoutTextAnswersEmptyInfoAndBadInputIs422() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
            ByteArrayOutputStream png = new ByteArrayOutputStream();
            ImageIO.write(img, "png", png);
            TestServer.Reply r = ts.post(ROUTE, body(Base64.getEncoder().encodeToString(png.toByteArray())));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            assertEquals("", r.json().get("info").asText());
            assertEquals(0, r.json().get("items").size());
            assertEquals("", r.json().at("/parameters/Prompt").asText());
            ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
            ImageIO.write(img, "jpeg", jpeg);
            TestServer.Reply j = ts.post(ROUTE, body(Base64.getEncoder().encodeToString(jpeg.toByteArray())));
            assertEquals(200, j.status(), () -> new String(j.raw().body()));
            assertEquals("", j.json().get("info").asText(), "a JPEG: no PNG text");
            TestServer.Reply empty = ts.post(ROUTE, body(""));
            assertEquals(200, empty.status());
            assertEquals("", empty.json().get("info").asText());
            assertRefused(ts.post(ROUTE, body("%%%%")), "image");
            assertRefused(ts.post(ROUTE, body("abc")), "image"); // two bytes that are no image
            assertRefused(ts.post(ROUTE, body(Base64.getEncoder().encodeToString("not an image".getBytes()))),
                    "image");
            byte[] cut = java.util.Arrays.copyOf(png.toByteArray(), png.size() - 4);
            assertRefused(ts.post(ROUTE, body(Base64.getEncoder().encodeToString(cut))), "image");
            assertRefused(ts.post(ROUTE, "{}"), "image");
            assertRefused(ts.post(ROUTE, "{\"image\":5}"), "image");
        }
    }
}
