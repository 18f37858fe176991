package dev.jdiffuse.server;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.lora.LoraFile;
import dev.jdiffuse.models.lora.LoraSpec;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FLUX LoRAs over HTTP ({@code layouts/flux_dev} as {@code flux-dev}; a kohya / sd-scripts FLUX LoRA written for its
 * widths, with fused {@code qkv} / {@code linear1} layers and a CLIP-L layer, beside the SD 1.5 fixture LoRA): the
 * listing says {@code flux} for it, a request with it renders what the pipeline renders in this process with it (and
 * not the base image), and the SD LoRA on the FLUX model is a 400 naming {@code loras[0].name}.
 */
class FluxLoraServerTest {

    private static final String DEV = "layouts/flux_dev/model";
    private static final String SD_LORA = "lora/sd15_kohya";
    private static final String NAME = "flux_style";
    /** Same code on the same CPU, so only the PNG's rounding to 8 bits separates the two. */
    private static final double TOL = 0.5 / 255 + 1e-6;

    static TestServer ts;
    static Path loras;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(DEV) || !Fixtures.present(SD_LORA)) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-flux-models");
        TestServer.linkFixture(models, "flux-dev", DEV);
        loras = Files.createTempDirectory("jdiffuse-flux-loras");
        writeFluxLora(loras.resolve(NAME + ".safetensors"));
        try (Stream<Path> s = Files.list(Fixtures.root().resolve(SD_LORA))) {
            Path sd = s.filter(p -> p.toString().endsWith(".safetensors") && !p.endsWith("io.safetensors"))
                    .findFirst().orElseThrow();
            Files.createSymbolicLink(loras.resolve(sd.getFileName()), sd);
        }
        ts = TestServer.overModels(models, ServerOptions.defaults().withLoras(loras));
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    @Test
    void listsTheFluxLoraAsFlux() throws Exception {
        Fixtures.require(DEV);
        Fixtures.require(SD_LORA);
        JsonNode list = ts.get("/v1/loras").json().get("loras");
        assertEquals(2, list.size(), list.toString());
        for (JsonNode l : list) {
            if (l.get("name").asText().equals(NAME)) {
                assertEquals("flux", l.get("family").asText(), l.toString());
                assertEquals("kohya", l.get("format").asText(), l.toString());
                assertEquals("[\"text_encoder\",\"transformer\"]", l.get("targets").toString());
                assertEquals(4, l.get("rank").asInt(), l.toString());
                assertEquals(3, l.get("layers").asInt(), l.toString());
            } else {
                assertNotEquals("flux", l.get("family").asText(), l.toString());
            }
        }
    }

    @Test
    void rendersWithTheLoraAsThePipelineDoes() throws Exception {
        Fixtures.require(DEV);
        Fixtures.require(SD_LORA);
        BufferedImage served = png(run(",\"loras\":[{\"name\":\"" + NAME + "\",\"scale\":0.9}]"));
        LoraFile file = LoraFile.read(loras.resolve(NAME + ".safetensors"));
        float[] local;
        float[] base;
        try (DiffusionPipeline p = Pipelines.open(Fixtures.root().resolve(DEV), LoadOptions.cpu());
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            GenerationRequest r = GenerationRequest.of("a red fox in fresh snow", "", 64, 64, 2, 3.5, 7);
            local = p.render(r.withLoras(List.of(new LoraSpec(NAME, file, 0.9))), job, GenerationListener.NONE)
                    .image().toFloatArray();
            base = p.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
        assertTrue(ImageDiff.maxAbs(served, local) <= TOL, "served vs in-process: " + ImageDiff.maxAbs(served, local));
        assertTrue(ImageDiff.maxAbs(served, base) > 2.0 / 255, "the LoRA changes the image: " + ImageDiff.maxAbs(served, base));
    }

    @Test
    void anSdLoraOnFluxIsA400NamingIt() throws Exception {
        Fixtures.require(DEV);
        Fixtures.require(SD_LORA);
        String sd;
        try (Stream<Path> s = Files.list(loras)) {
            sd = s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(NAME)).findFirst().orElseThrow();
        }
        String body = body(",\"loras\":[{\"name\":\"" + sd.substring(0, sd.length() - ".safetensors".length())
                + "\",\"scale\":0.5}]");
        TestServer.Reply r = ts.post("/v1/generations", body);
        assertEquals(400, r.status(), () -> new String(r.raw().body()));
        assertEquals("loras[0].name", r.errorField());
        assertEquals("lora_mismatch", r.errorCode());
    }

    /** rank 4: double block 0's image qkv (alpha 2), single block 1's linear1 (no alpha), CLIP-L layer 1's q_proj. */
    private static void writeFluxLora(Path file) {
        Random rnd = new Random(5);
        Map<String, TensorData> t = new LinkedHashMap<>();
        layer(t, rnd, "lora_unet_double_blocks_0_img_attn_qkv", 32, 96, 2f);
        layer(t, rnd, "lora_unet_single_blocks_1_linear1", 32, 3 * 32 + 128, null);
        layer(t, rnd, "lora_te1_text_model_encoder_layers_1_self_attn_q_proj", 32, 32, 4f);
        SafetensorsWriter.write(file, t);
    }

    private static void layer(Map<String, TensorData> t, Random rnd, String name, int in, int out, Float alpha) {
        t.put(name + ".lora_down.weight", TensorData.ofFloats(new long[] {4, in}, gaussian(rnd, 4 * in)));
        t.put(name + ".lora_up.weight", TensorData.ofFloats(new long[] {out, 4}, gaussian(rnd, out * 4)));
        if (alpha != null) {
            t.put(name + ".alpha", TensorData.ofFloats(new long[] {}, new float[] {alpha}));
        }
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextGaussian() * 0.3);
        }
        return v;
    }

    private static String body(String extra) {
        return "{\"model\":\"flux-dev\",\"prompt\":\"a red fox in fresh snow\",\"width\":64,\"height\":64,"
                + "\"steps\":2,\"guidance_scale\":3.5,\"seed\":7" + extra + "}";
    }

    private static byte[] run(String extra) throws Exception {
        String id = ts.submit(body(extra));
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ts.get("/v1/generations/" + id + "/images/0").raw().body();
    }

    private static BufferedImage png(byte[] bytes) throws Exception {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
        assertEquals(64, img.getWidth());
        assertEquals(64, img.getHeight());
        return img;
    }
}
