package dev.jdiffuse.server;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FluxSingleFileWriter;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.server.models.ModelLoaders;
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
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A FLUX.1 GGUF in the models folder, laid out as ComfyUI-GGUF users keep it: {@code flux1-tiny-Q8_0.gguf} (the
 * {@code layouts/flux_dev} transformer, 2-D weights Q8_0) with {@code ae.safetensors} and {@code text_encoders/} beside
 * it and {@code flux1-tiny-Q8_0.config/} for what the tiny model's shapes do not tell. It is listed under its name
 * without the extension (the parts beside it are not), loads as the {@code flux} family, and a request renders what
 * the same file renders in this process (only the PNG's 8-bit rounding between them).
 */
class FluxGgufServerTest {

    private static final String DEV = "layouts/flux_dev";
    private static final String NAME = "flux1-tiny-Q8_0";
    private static final double TOL = 0.5 / 255 + 1e-6;

    static TestServer ts;
    static Path gguf;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(DEV + "/model")) {
            return;
        }
        Path model = Fixtures.root().resolve(DEV).resolve("model");
        Path models = Files.createTempDirectory("jdiffuse-gguf-models");
        gguf = FluxSingleFileWriter.ggufFiles(model, models, NAME, FluxSingleFileWriter.GgufStorage.Q8_0);
        FluxSingleFileWriter.minimalConfig(model, models.resolve(NAME + ModelLoaders.CONFIG_SUFFIX));
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    @Test
    void aGgufIsListedAndRendersWhatThePipelineRenders() throws Exception {
        Fixtures.require(DEV + "/model");
        List<String> names = new ArrayList<>();
        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            names.add(m.get("name").asText());
        }
        assertEquals(List.of(NAME), names, "the GGUF alone is a model; ae.safetensors, text_encoders/, .config not");

        JsonNode meta = Fixtures.meta(Fixtures.root().resolve(DEV));
        String prompt = meta.get("prompt").asText();
        long seed = meta.get("seed").asLong();
        String id = ts.submit("{\"model\":\"" + NAME + "\",\"prompt\":" + TestServer.JSON.writeValueAsString(prompt)
                + ",\"width\":128,\"height\":128,\"steps\":4,\"guidance_scale\":3.5,\"seed\":" + seed + "}");
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        BufferedImage served = ImageIO.read(new ByteArrayInputStream(
                ts.get("/v1/generations/" + id + "/images/0").raw().body()));
        assertEquals(128, served.getWidth());

        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            assertEquals("flux", m.get("family").asText(), m.toString());
        }
        Path config = gguf.resolveSibling(NAME + ModelLoaders.CONFIG_SUFFIX);
        try (DiffusionPipeline p = Pipelines.open(gguf, LoadOptions.cpu().withSingleFileConfig(config));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            float[] local = p.render(GenerationRequest.of(prompt, "", 128, 128, 4, 3.5, seed), job,
                    GenerationListener.NONE).image().toFloatArray();
            double e = ImageDiff.maxAbs(served, local);
            assertTrue(e <= TOL, "served vs in-process: " + e);
        }
    }
}
