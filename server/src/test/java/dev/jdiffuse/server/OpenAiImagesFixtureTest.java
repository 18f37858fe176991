package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.models.ModelBudget;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
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
import java.util.Arrays;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenAI's {@code POST /v1/images/generations} against the real {@code layouts/sd15} fixture loaded by the
 * production loader: each {@code b64_json} image is a PNG of the requested size equal, pixel for pixel, to the
 * native API's image for the same model, seed ({@code seed + i} for image i), sampler, steps and guidance.
 */
class OpenAiImagesFixtureTest {

    private static final String SD15 = "layouts/sd15/model";
    private static final String LORA = "lora/sd15_kohya";

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(SD15)) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-openai-models");
        TestServer.linkFixture(models, "tiny-sd15", SD15);
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    private static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    /** The native API's image 0 for {@code body}. */
    private static BufferedImage nativeImage(String body) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ImageIO.read(new ByteArrayInputStream(ts.get("/v1/generations/" + id + "/images/0").raw().body()));
    }

    @Test
    void b64ImagesEqualTheNativeImagesOfEachSeed() throws Exception {
        Fixtures.require(SD15);
        TestServer.Reply r = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/images/generations"))
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString("""
                        {"prompt":"a lighthouse","model":"tiny-sd15","n":2,"size":"80x64","seed":21,"steps":4,
                         "guidance_scale":7.5,"negative_prompt":"blurry","sampler":"euler_ancestral",
                         "response_format":"b64_json"}""")));
        assertEquals(200, r.status(), () -> new String(r.raw().body()));
        BufferedImage[] got = new BufferedImage[2];
        for (int i = 0; i < 2; i++) {
            byte[] png = Base64.getDecoder().decode(r.json().at("/data/" + i + "/b64_json").asText());
            assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4), "a PNG");
            got[i] = ImageIO.read(new ByteArrayInputStream(png));
            assertEquals(80, got[i].getWidth());
            assertEquals(64, got[i].getHeight());
            BufferedImage expected = nativeImage("""
                    {"model":"tiny-sd15","prompt":"a lighthouse","negative_prompt":"blurry","seed":%d,"steps":4,
                     "width":80,"height":64,"guidance_scale":7.5,"sampler":"euler_ancestral"}""".formatted(21 + i));
            assertArrayEquals(pixels(expected), pixels(got[i]), "image " + i + " is the native image of seed "
                    + (21 + i));
        }
        assertFalse(Arrays.equals(pixels(got[0]), pixels(got[1])), "the two seeds give two images");
    }

    /** The {@code true_cfg_scale} extension reaches the native request: a non-FLUX model refuses it naming it. */
    @Test
    void trueCfgScaleIsPassedOn() throws Exception {
        Fixtures.require(SD15);
        TestServer.Reply r = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/images/generations"))
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"a lighthouse\",\"model\":\"tiny-sd15\","
                        + "\"size\":\"64x64\",\"steps\":2,\"true_cfg_scale\":3}")));
        assertEquals(400, r.status(), () -> new String(r.raw().body()));
        assertEquals("true_cfg_scale", r.json().at("/error/param").asText(), r.json().toString());
    }

    /**
     * A {@code <lora:...>} tag is taken out of the prompt the model reads: {@code revised_prompt} is the prompt as
     * the job used it (the native record's), and the image is the native image of the tagged prompt.
     */
    @Test
    void revisedPromptIsThePromptAsUsedWhenALoraTagIsTakenOut() throws Exception {
        Fixtures.require(LORA);
        Path c = Fixtures.root().resolve(LORA);
        Path models = Files.createTempDirectory("jdiffuse-openai-lora-models");
        Files.createSymbolicLink(models.resolve("sd15"), c.resolve(Fixtures.meta(c).get("model").asText())
                .normalize());
        Path loras = Files.createTempDirectory("jdiffuse-openai-loras");
        Path lora;
        try (var files = Files.list(c)) {
            lora = files.filter(p -> p.toString().endsWith(".safetensors") && !p.endsWith("io.safetensors"))
                    .findFirst().orElseThrow();
        }
        Files.createSymbolicLink(loras.resolve(lora.getFileName()), lora);
        String name = lora.getFileName().toString().replace(".safetensors", "");
        try (TestServer lts = new TestServer(ServerOptions.defaults().withLoras(loras),
                ModelRegistry.open(models, ModelLoaders.production(), "cpu", "fp32", ModelBudget.UNLIMITED))) {
            String prompt = "a red barn <lora:" + name + ":0.5>";
            TestServer.Reply r = lts.send(HttpRequest.newBuilder(URI.create(lts.base + "/v1/images/generations"))
                    .header("Content-Type", "application/json").timeout(Duration.ofSeconds(120))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"" + prompt + "\",\"size\":\"64x64\","
                            + "\"seed\":5,\"steps\":2,\"response_format\":\"url\"}")));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            String url = r.json().at("/data/0/url").asText();
            String job = url.substring(lts.base.length(), url.length() - "/images/0".length());
            JsonNode record = lts.get(job).json();
            String revised = r.json().at("/data/0/revised_prompt").asText(null);
            assertEquals(record.at("/parameters/prompt").asText(), revised, record.toString());
            assertFalse(revised.contains("<lora:"), revised);
            assertTrue(revised.startsWith("a red barn"), revised);
            assertEquals(name, record.at("/parameters/loras/0/name").asText(), "the tag applied the LoRA");
        }
    }
}
