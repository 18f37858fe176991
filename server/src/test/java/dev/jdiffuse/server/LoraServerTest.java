package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.server.images.PngText;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRAs over real HTTP: the fixture's base model ({@code layouts/sd15/model}) served from a models folder and the
 * case's kohya LoRA from a {@code --loras} folder; {@code GET /v1/loras} lists it with AUTOMATIC1111's hash, a request
 * naming it (in {@code loras} or as a {@code <lora:...>} prompt tag) reproduces diffusers' image within the pipeline
 * tolerance plus 8-bit rounding, its PNG records name, hash and scale as A1111 does, the next request without it gets
 * the base model's image, and bad names and scales are 400 naming the field.
 */
class LoraServerTest {

    private static final String CASE = "lora/sd15_kohya";
    /** Pipeline tolerance (fixtures README) plus the PNG's rounding to 8 bits. */
    private static final double TOL = 2e-3 + 0.5 / 255;

    static TestServer ts;
    static Path lora;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(CASE)) {
            return;
        }
        Path c = Fixtures.root().resolve(CASE);
        Path models = Files.createTempDirectory("jdiffuse-models");
        Files.createSymbolicLink(models.resolve("sd15"), c.resolve(Fixtures.meta(c).get("model").asText())
                .normalize());
        Path loras = Files.createTempDirectory("jdiffuse-loras");
        try (var s = Files.list(c)) {
            lora = s.filter(p -> p.toString().endsWith(".safetensors") && !p.endsWith("io.safetensors")).findFirst()
                    .orElseThrow();
        }
        Files.createSymbolicLink(loras.resolve(lora.getFileName()), lora);
        ts = new TestServer(ServerOptions.defaults().withLoras(loras),
                ModelRegistry.open(models, ModelLoaders.production(), "cpu", "fp32",
                        dev.jdiffuse.server.models.ModelBudget.UNLIMITED));
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    @Test
    void listsTheLoraWithItsA1111Hash() throws Exception {
        Fixtures.require(CASE);
        JsonNode list = ts.get("/v1/loras").json().get("loras");
        assertEquals(1, list.size(), list.toString());
        JsonNode l = list.get(0);
        assertEquals(name(), l.get("name").asText());
        assertEquals(addnetHash(lora).substring(0, 12), l.get("hash").asText());
        assertEquals("kohya", l.get("format").asText());
        assertEquals("[\"text_encoder\",\"unet\"]", l.get("targets").toString());
        assertTrue(l.get("rank").asInt() > 0 && l.get("layers").asInt() > 0, l.toString());
    }

    @Test
    void generatesWithTheLoraAndRecordsItAsA1111Does() throws Exception {
        Fixtures.require(CASE);
        JsonNode meta = Fixtures.meta(Fixtures.root().resolve(CASE));
        double scale = meta.get("lora_scale").asDouble();
        String hash = addnetHash(lora).substring(0, 12);

        byte[] png = run(body(meta, meta.get("prompt").asText(), ",\"loras\":[{\"name\":\"" + name()
                + "\",\"scale\":" + scale + "}]"));
        compare(png, "image");
        Map<String, String> text = PngText.read(png);
        String infotext = text.get("parameters");
        assertTrue(infotext.startsWith(meta.get("prompt").asText() + " <lora:" + name() + ":" + scale + ">"),
                infotext);
        assertTrue(infotext.contains("Lora hashes: \"" + name() + ": " + hash + "\""), infotext);
        JsonNode record = TestServer.JSON.readTree(text.get("jdiffuse"));
        assertEquals(name(), record.at("/loras/0/name").asText());
        assertEquals(hash, record.at("/loras/0/hash").asText());
        assertEquals(scale, record.at("/loras/0/scale").asDouble());

        // the base model comes back exactly for the next request without the LoRA
        compare(run(body(meta, meta.get("prompt").asText(), "")), "image_scale0");

        // AUTOMATIC1111's prompt syntax: the tag is cut from the text and applies the same LoRA
        compare(run(body(meta, meta.get("prompt").asText() + " <lora:" + name() + ":" + scale + ">", "")), "image");
    }

    @Test
    void badNamesAndScalesNameTheirField() throws Exception {
        Fixtures.require(CASE);
        JsonNode meta = Fixtures.meta(Fixtures.root().resolve(CASE));
        TestServer.Reply r = ts.post("/v1/generations", body(meta, "x", ",\"loras\":[{\"name\":\"nope\"}]"));
        assertEquals(400, r.status());
        assertEquals("unknown_lora", r.errorCode());
        assertEquals("loras[0].name", r.errorField());
        r = ts.post("/v1/generations", body(meta, "x <lora:nope:0.5>", ""));
        assertEquals(400, r.status());
        assertEquals("unknown_lora", r.errorCode());
        assertEquals("prompt", r.errorField());
        r = ts.post("/v1/generations", body(meta, "x", ",\"loras\":[{\"name\":\"" + name() + "\",\"scale\":11}]"));
        assertEquals(400, r.status());
        assertEquals("loras[0].scale", r.errorField());
        r = ts.post("/v1/generations", body(meta, "x <lora:" + name() + ":0.5:0.2>", ""));
        assertEquals(400, r.status());
        assertEquals("prompt", r.errorField());
    }

    private static String name() {
        String n = lora.getFileName().toString();
        return n.substring(0, n.length() - ".safetensors".length());
    }

    private static String body(JsonNode meta, String prompt, String extra) throws Exception {
        return "{\"model\":\"sd15\",\"prompt\":" + TestServer.JSON.writeValueAsString(prompt)
                + ",\"negative_prompt\":" + TestServer.JSON.writeValueAsString(meta.path("negative_prompt").asText(""))
                + ",\"width\":" + meta.get("width").asInt() + ",\"height\":" + meta.get("height").asInt()
                + ",\"steps\":" + meta.get("num_inference_steps").asInt() + ",\"guidance_scale\":"
                + meta.get("guidance_scale").asDouble() + ",\"seed\":" + meta.get("seed").asLong() + extra + "}";
    }

    private static byte[] run(String body) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ts.get("/v1/generations/" + id + "/images/0").raw().body();
    }

    /** The PNG against the fixture's [0, 1] NCHW image {@code key}. */
    private static void compare(byte[] png, String key) throws Exception {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        try (SafetensorsFile io = SafetensorsFile.open(Fixtures.root().resolve(CASE).resolve("io.safetensors"))) {
            double max = ImageDiff.maxAbs(img, io.toFloatArray(key));
            assertTrue(max <= TOL, key + ": max|diff| " + max + " > " + TOL);
        }
    }

    /** kohya's addnet_hash_safetensors: SHA-256 of the bytes after the 8-byte length and the JSON header. */
    private static String addnetHash(Path file) throws Exception {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(all, (int) (8 + n), all.length - (int) (8 + n));
        return HexFormat.of().formatHex(md.digest());
    }
}
