package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.auth.ApiKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenAI's {@code POST /v1/images/edits} over real HTTP (multipart/form-data, as the openai SDKs send it) around the
 * scripted pipeline (whose image is a solid colour of its seed): image-to-image without a mask, inpainting with one
 * (OpenAI's alpha-0 pixels become the native mask's white), {@code size: auto} from the input image, one image per
 * seed {@code seed + i}, the uploads dropped after the request, errors in OpenAI's shape naming the field, and API
 * keys as on the native routes.
 */
class OpenAiEditsServerTest {

    private static final String ROUTE = "/v1/images/edits";

    @TempDir
    Path dir;

    /** The scripted pipeline's colour for {@code seed} (batch index 0). */
    private static int colour(long seed) {
        return (int) (seed * 31) & 0xffffff;
    }

    static BufferedImage picture(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Random rnd = new Random(w * 31L + h);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rnd.nextInt() & 0xffffff);
            }
        }
        return img;
    }

    /** An OpenAI mask of {@code w x h}: opaque black, with the rectangle [x0, x1) x [y0, y1) fully transparent. */
    static BufferedImage openAiMask(int w, int h, int x0, int y0, int x1, int y1) {
        BufferedImage m = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                boolean edit = x >= x0 && x < x1 && y >= y0 && y < y1;
                // the colour under alpha 0 is irrelevant: only the alpha marks the region
                m.setRGB(x, y, edit ? 0x00FFFFFF & (x * 977 + y) : 0xFF000000 | (y * 3 << 8));
            }
        }
        return m;
    }

    private static TestServer.Reply edit(TestServer ts, MultipartBody body) throws Exception {
        return ts.send(body.post(ts.base + ROUTE));
    }

    private static BufferedImage decode(JsonNode item) throws Exception {
        return ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(item.get("b64_json").asText())));
    }

    private static void assertOpenAiError(TestServer.Reply r, int status, String param) {
        assertEquals(status, r.status(), () -> new String(r.raw().body()));
        JsonNode e = r.json().get("error");
        assertNotNull(e, r.json().toString());
        assertTrue(e.get("message").isTextual() && !e.get("message").asText().isBlank(), e.toString());
        assertEquals(status >= 500 ? "server_error" : "invalid_request_error", e.get("type").asText(), e.toString());
        if (param == null) {
            assertTrue(e.get("param").isNull(), e.toString());
        } else {
            assertEquals(param, e.get("param").asText(), e.toString());
        }
    }

    private static double uploadsHeld(TestServer ts) throws Exception {
        return MetricsText.sum(new String(ts.get("/metrics").raw().body()), "jdiffuse_uploads_held_bytes", "");
    }

    @Test
    void withoutAMaskItIsImageToImageAtTheInputSizeRoundedToTheModelMultiple() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            BufferedImage input = picture(100, 75);
            TestServer.Reply r = edit(ts, new MultipartBody().png("image", input).field("prompt", "make it blue")
                    .field("model", "gpt-image-1").field("seed", "9").field("strength", "0.6").field("steps", "3")
                    .field("negative_prompt", "red").field("cfg_scale", "6.5").field("sampler", "heun")
                    .field("response_format", "url").field("stream", "false").field("quality", "high"));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            assertEquals("104x72", r.json().get("size").asText(), "100x75 to the nearest multiples of 8");
            String url = r.json().at("/data/0/url").asText();
            String job = url.substring(ts.base.length(), url.length() - "/images/0".length());
            JsonNode p = ts.get(job).json().get("parameters");
            assertEquals(104, p.get("width").asInt());
            assertEquals(72, p.get("height").asInt());
            assertEquals(0.6, p.get("strength").asDouble());
            assertEquals(9, p.get("seed").asLong());
            assertEquals(3, p.get("steps").asInt());
            assertEquals("red", p.get("negative_prompt").asText());
            assertEquals(6.5, p.get("guidance_scale").asDouble());
            assertEquals("heun", p.get("sampler").asText());
            assertTrue(p.get("init_image").isTextual(), p.toString());
            assertTrue(p.path("mask").isMissingNode() || p.get("mask").isNull(), p.toString());
            GenerationRequest last = ts.pipeline.last;
            assertNotNull(last.init(), "an init image reached the pipeline");
            assertNull(last.inpaint(), "no mask: image-to-image");
            assertEquals(100, last.init().image().getWidth(), "the image as sent");
            assertEquals(input.getRGB(40, 30) & 0xffffff, last.init().image().getRGB(40, 30) & 0xffffff);
            assertEquals(0.0, uploadsHeld(ts), "the image is dropped once the request has ended");
        }
    }

    @Test
    void aMasksTransparentPixelsAreWhatIsRepaintedAndNImagesHaveSeedsSeedPlusI() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = edit(ts, new MultipartBody().png("image[]", picture(64, 80))
                    .png("mask", openAiMask(64, 80, 16, 8, 40, 32)).field("prompt", "a hat").field("n", "2")
                    .field("seed", "40").field("size", "64x80"));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            assertEquals(2, r.json().get("data").size());
            for (int i = 0; i < 2; i++) {
                BufferedImage img = decode(r.json().get("data").get(i));
                assertEquals(64, img.getWidth());
                assertEquals(80, img.getHeight());
                assertEquals(colour(40 + i), img.getRGB(5, 5) & 0xffffff, "image " + i + " has seed 40+" + i);
            }
            GenerationRequest.Inpaint in = ts.pipeline.last.inpaint();
            assertNotNull(in, "a mask: inpainting");
            assertTrue(in.pasteBack(), "the unmasked pixels are kept, as OpenAI's edits keep them");
            BufferedImage mask = in.mask();
            for (int y = 0; y < 80; y++) {
                for (int x = 0; x < 64; x++) {
                    boolean edit = x >= 16 && x < 40 && y >= 8 && y < 32;
                    assertEquals(edit ? 0xFFFFFF : 0, mask.getRGB(x, y) & 0xffffff, "native mask at " + x + "," + y);
                }
            }
            assertEquals(1.0, ts.pipeline.last.init().strength(), "inpainting's default strength");
            assertEquals(0.0, uploadsHeld(ts), "the image and mask are dropped once the request has ended");
        }
    }

    /**
     * As OpenAI (dall-e-2): without a mask, an image with transparent pixels is its own mask, those pixels repainted
     * and the others kept; an opaque image without a mask stays image to image (the test above).
     */
    @Test
    void withoutAMaskTheImagesOwnTransparencyIsTheMask() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = edit(ts, new MultipartBody().png("image", openAiMask(64, 64, 8, 16, 24, 48))
                    .field("prompt", "a window").field("size", "64x64"));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            GenerationRequest.Inpaint in = ts.pipeline.last.inpaint();
            assertNotNull(in, "the image's transparency: inpainting");
            assertTrue(in.pasteBack());
            BufferedImage mask = in.mask();
            for (int y = 0; y < 64; y++) {
                for (int x = 0; x < 64; x++) {
                    boolean edit = x >= 8 && x < 24 && y >= 16 && y < 48;
                    assertEquals(edit ? 0xFFFFFF : 0, mask.getRGB(x, y) & 0xffffff, "native mask at " + x + "," + y);
                }
            }
            // the GPT image models edit the whole image: transparency is no mask for them
            TestServer.Reply whole = edit(ts, new MultipartBody().png("image", openAiMask(64, 64, 8, 16, 24, 48))
                    .field("prompt", "a window").field("size", "64x64").field("model", "gpt-image-1"));
            assertEquals(200, whole.status(), () -> new String(whole.raw().body()));
            assertNull(ts.pipeline.last.inpaint(), "gpt-image-1: image to image");
        }
    }

    @Test
    void errorsAreInOpenAisShapeAndNameTheField() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            BufferedImage img = picture(64, 64);
            assertOpenAiError(edit(ts, new MultipartBody().field("prompt", "x")), 400, "image");
            assertOpenAiError(edit(ts, new MultipartBody().png("image", img)), 400, "prompt");
            assertOpenAiError(edit(ts, new MultipartBody().png("image", img).field("prompt", " ")), 400, "prompt");
            assertOpenAiError(edit(ts, new MultipartBody().file("image", "a.png", "image/png",
                    "not an image".getBytes()).field("prompt", "x")), 415, "image");
            byte[] cut = MultipartBody.png(img);
            assertOpenAiError(edit(ts, new MultipartBody().file("image", "a.png", "image/png",
                    java.util.Arrays.copyOf(cut, cut.length / 2)).field("prompt", "x")), 400, "image");
            assertOpenAiError(edit(ts, new MultipartBody().png("image[]", img).png("image[]", img)
                    .field("prompt", "x")), 400, "image");
            assertOpenAiError(edit(ts, new MultipartBody().png("image", img).png("mask", openAiMask(64, 32, 0, 0, 8, 8))
                    .field("prompt", "x")), 400, "mask");
            assertOpenAiError(edit(ts, new MultipartBody().png("image", img).png("mask", picture(64, 64))
                    .field("prompt", "x")), 400, "mask"); // no alpha channel
            ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
            ImageIO.write(img, "jpeg", jpeg);
            assertOpenAiError(edit(ts, new MultipartBody().png("image", img).file("mask", "m.jpg", "image/jpeg",
                    jpeg.toByteArray()).field("prompt", "x")), 400, "mask");
            assertOpenAiError(edit(ts, base(img).field("n", "0")), 400, "n");
            assertOpenAiError(edit(ts, base(img).field("n", "11")), 400, "n");
            assertOpenAiError(edit(ts, base(img).field("n", "two")), 400, "n");
            TestServer.Reply unknown = edit(ts, base(img).field("model", "sdxl-nope"));
            assertOpenAiError(unknown, 404, "model");
            assertEquals("model_not_found", unknown.json().at("/error/code").asText());
            assertOpenAiError(edit(ts, base(img).field("size", "big")), 400, "size");
            assertOpenAiError(edit(ts, base(img).field("size", "65x64")), 400, "size");
            assertOpenAiError(edit(ts, base(img).field("strength", "1.5")), 400, "strength");
            assertOpenAiError(edit(ts, base(img).field("mask_blur", "4")), 400, "mask_blur"); // needs a mask
            assertOpenAiError(edit(ts, base(img).field("response_format", "png")), 400, "response_format");
            assertOpenAiError(edit(ts, base(img).field("stream", "true")), 400, "stream");
            assertOpenAiError(edit(ts, base(img).field("seed", "1").field("seed", "2")), 400, "seed");
            assertOpenAiError(ts.post(ROUTE, "{\"prompt\":\"x\"}"), 415, null); // not multipart
            assertOpenAiError(ts.send(HttpRequest.newBuilder(URI.create(ts.base + ROUTE))
                    .header("Content-Type", "multipart/form-data; boundary=zzz")
                    .POST(HttpRequest.BodyPublishers.ofString("garbage"))), 400, null);
            assertEquals(0, ts.pipeline.runsOf("x"), "no refused request ran");
            assertEquals(0.0, uploadsHeld(ts), "refused requests keep no image");
        }
    }

    private static MultipartBody base(BufferedImage img) {
        return new MultipartBody().png("image", img).field("prompt", "x");
    }

    @Test
    void uploadsOverTheLimitsAre413() throws Exception {
        Limits small = new Limits(2048, 2048L * 2048, 150, 8, 10_000, 16 * 1024, 8 * 1024, 4096L * 4096, 8192);
        try (TestServer ts = new TestServer(ServerOptions.defaults().withLimits(small), new ScriptedPipeline(0))) {
            byte[] noise = MultipartBody.png(picture(64, 64)); // about 12 KiB of incompressible pixels
            assertTrue(noise.length > 8 * 1024 && noise.length < 16 * 1024, "" + noise.length);
            assertOpenAiError(edit(ts, new MultipartBody().file("image", "a.png", "image/png", noise)
                    .field("prompt", "x")), 413, "image");
            assertOpenAiError(edit(ts, new MultipartBody().png("image", picture(16, 16))
                    .file("mask", "m.png", "image/png", noise).field("prompt", "x")), 413, "mask");
            // the whole body beyond the JSON limit and two uploads: refused before it is parsed
            byte[] big = new byte[16 * 1024 + 2 * 8 * 1024 + 1];
            assertOpenAiError(edit(ts, new MultipartBody().file("image", "a.png", "image/png", big)
                    .field("prompt", "x")), 413, null);
            TestServer.Reply fine = edit(ts, new MultipartBody().png("image", picture(16, 16)).field("prompt", "y")
                    .field("size", "64x64"));
            assertEquals(200, fine.status(), () -> new String(fine.raw().body()));
        }
    }

    @Test
    void apiKeysApplyAsOnTheNativeRoutes() throws Exception {
        String alice = ApiKeys.newKey();
        Path keys = dir.resolve("keys");
        Files.write(keys, List.of("alice:" + ApiKeys.sha256Hex(alice)));
        try (TestServer ts = new TestServer(ServerOptions.defaults().withSafety(Safety.DEFAULTS.withApiKeys(keys)),
                new ScriptedPipeline(0))) {
            MultipartBody body = new MultipartBody().png("image", picture(64, 64)).field("prompt", "k")
                    .field("seed", "3");
            assertOpenAiError(edit(ts, body), 401, null);
            TestServer.Reply wrong = ts.send(body.post(ts.base + ROUTE).header("Authorization", "Bearer sk-nope"));
            assertOpenAiError(wrong, 401, null);
            assertEquals(0, ts.pipeline.runsOf("k"));
            TestServer.Reply r = ts.send(body.post(ts.base + ROUTE).header("Authorization", "Bearer " + alice));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            assertEquals(colour(3), decode(r.json().at("/data/0")).getRGB(0, 0) & 0xffffff);
        }
    }
}
