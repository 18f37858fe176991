package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Textual-inversion embeddings over real HTTP, on the tiny SD 1.5 fixture ({@code layouts/sd15/model}) with an
 * {@code --embeddings} folder holding {@code zqx} (the text encoder's own token-embedding rows of "red apple"), a
 * {@code toowide} embedding of a width the model lacks and a pickled {@code badhand.pt}: the three listings, a
 * generation naming {@code zqx} that draws what "red apple" draws, an unknown name that is just text, and a 400 naming
 * the field for the too-wide one.
 */
class EmbeddingServerTest {

    private static final String MODEL = "layouts/sd15/model";

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(MODEL)) {
            return;
        }
        Path model = Fixtures.root().resolve(MODEL);
        Path models = Files.createTempDirectory("jdiffuse-models");
        Files.createSymbolicLink(models.resolve("sd15"), model.toAbsolutePath().normalize());
        Path embeddings = Files.createTempDirectory("jdiffuse-embeddings");
        int[] ids = ClipTokenizer.load(model.resolve("tokenizer")).encode("red apple");
        try (SafetensorsFile st = SafetensorsFile.open(model.resolve("text_encoder/model.safetensors"))) {
            String key = st.contains("embeddings.token_embedding.weight") ? "embeddings.token_embedding.weight"
                    : "text_model.embeddings.token_embedding.weight";
            int d = (int) st.info(key).shape()[1];
            float[] table = st.toFloatArray(key);
            float[] rows = new float[ids.length * d];
            for (int i = 0; i < ids.length; i++) {
                System.arraycopy(table, ids[i] * d, rows, i * d, d);
            }
            SafetensorsWriter.write(embeddings.resolve("zqx.safetensors"),
                    Map.of("emb_params", TensorData.ofFloats(new long[] {ids.length, d}, rows)));
            SafetensorsWriter.write(embeddings.resolve("toowide.safetensors"),
                    Map.of("emb_params", TensorData.ofFloats(new long[] {1, d + 16}, new float[d + 16])));
        }
        Files.write(embeddings.resolve("badhand.pt"), new byte[] {(byte) 0x80, 2, '}', '.'});
        ts = new TestServer(ServerOptions.defaults().withEmbeddings(embeddings),
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
    void listsTheEmbeddings() throws Exception {
        Fixtures.require(MODEL);
        JsonNode v1 = ts.get("/v1/embeddings").json();
        assertEquals(2, v1.get("embeddings").size(), v1.toString());
        JsonNode toowide = v1.get("embeddings").get(0);
        JsonNode zqx = v1.get("embeddings").get(1);
        assertEquals("zqx", zqx.get("name").asText());
        assertTrue(zqx.get("vectors").asInt() >= 2, zqx.toString()); // "red apple" is at least two tokens
        assertEquals("[32]", zqx.get("widths").toString());
        assertEquals("[48]", toowide.get("widths").toString());
        assertEquals(12, zqx.get("hash").asText().length());
        assertTrue(v1.at("/skipped/badhand").asText().contains("pickle"), v1.toString());

        JsonNode a1111 = ts.get("/sdapi/v1/embeddings").json();
        assertEquals(zqx.get("vectors").asInt(), a1111.at("/loaded/zqx/vectors").asInt(), a1111.toString());
        assertEquals(32, a1111.at("/loaded/zqx/shape").asInt());
        assertTrue(a1111.at("/skipped").has("badhand"), a1111.toString());

        assertEquals("[\"toowide\",\"zqx\"]", ts.get("/embeddings").json().toString());
    }

    @Test
    void aPromptNamingTheEmbeddingDrawsItsWords() throws Exception {
        Fixtures.require(MODEL);
        byte[] writtenPng = run("a red apple on a table", "blurry");
        BufferedImage written = image(writtenPng);
        assertTrue(!dev.jdiffuse.server.images.PngText.read(writtenPng).get("parameters").contains("TI hashes"),
                "no embedding, no TI hashes");
        byte[] namedPng = run("a zqx on a table", "blurry");
        BufferedImage named = image(namedPng);
        String hash = ts.get("/v1/embeddings").json().at("/embeddings/1/hash").asText();
        Map<String, String> text = dev.jdiffuse.server.images.PngText.read(namedPng);
        assertTrue(text.get("parameters").contains("TI hashes: \"zqx: " + hash + "\""), text.get("parameters"));
        JsonNode record = TestServer.JSON.readTree(text.get("jdiffuse"));
        assertEquals("zqx", record.at("/embeddings/0/name").asText(), record.toString());
        assertEquals(hash, record.at("/embeddings/0/hash").asText());
        BufferedImage other = image(run("a nosuchembedding on a table", "blurry"));
        // the written-out prompt runs the scripted encoder, the embedding op by op: equal up to the PNG's rounding
        assertTrue(maxLevels(written, named) <= 1, "zqx draws 'red apple': " + maxLevels(written, named));
        assertTrue(maxLevels(named, other) > 1, "an unknown name is text, and other text draws another image");
    }

    @Test
    void aTooWideEmbeddingIsRefusedNamingTheField() throws Exception {
        Fixtures.require(MODEL);
        TestServer.Reply r = ts.post("/v1/generations", body("a toowide apple", ""));
        assertEquals(400, r.status(), r.json().toString());
        assertEquals("prompt", r.errorField());
        assertTrue(r.json().toString().contains("toowide"), r.json().toString());
        r = ts.post("/v1/generations", body("an apple", "toowide"));
        assertEquals(400, r.status(), r.json().toString());
        assertEquals("negative_prompt", r.errorField());
    }

    private static String body(String prompt, String negative) throws Exception {
        return "{\"model\":\"sd15\",\"prompt\":" + TestServer.JSON.writeValueAsString(prompt)
                + ",\"negative_prompt\":" + TestServer.JSON.writeValueAsString(negative)
                + ",\"width\":64,\"height\":64,\"steps\":3,\"guidance_scale\":7.5,\"seed\":5}";
    }

    private static byte[] run(String prompt, String negative) throws Exception {
        String id = ts.submit(body(prompt, negative));
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ts.get("/v1/generations/" + id + "/images/0").raw().body();
    }

    private static BufferedImage image(byte[] png) throws Exception {
        return ImageIO.read(new ByteArrayInputStream(png));
    }

    /** The largest difference of one 8-bit channel between two images of the same size. */
    private static int maxLevels(BufferedImage a, BufferedImage b) {
        int max = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y);
                int q = b.getRGB(x, y);
                for (int s = 0; s < 24; s += 8) {
                    max = Math.max(max, Math.abs(((p >> s) & 0xff) - ((q >> s) & 0xff)));
                }
            }
        }
        return max;
    }
}
