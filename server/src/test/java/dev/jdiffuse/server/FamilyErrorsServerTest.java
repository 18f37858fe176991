package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.testkit.DiTPipelineFolder;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * User mistakes that only the model can judge (a sampler of another noise space, a size off the patch grid, a class
 * the model does not have) are 400s naming the field for every family, over real HTTP with the real SD3 and DiT
 * fixture pipelines: the refusal comes from the pipeline's own {@code check}, as typed field errors.
 */
class FamilyErrorsServerTest {

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present("pipeline_sd3/model") || !Fixtures.present("dit") || !Fixtures.present("vae_kl")) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-family-models");
        TestServer.linkFixture(models, "tiny-sd3", "pipeline_sd3/model");
        DiTPipelineFolder.assemble(models.resolve("tiny-dit"), DiTPipelineFolder.Placement.LINK);
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    private static void expect400(String body, String code, String field) throws Exception {
        for (String path : new String[] {"/v1/generations", "/v1/schedule"}) {
            TestServer.Reply r = ts.post(path, body);
            assertEquals(400, r.status(), () -> path + " " + body + ": " + new String(r.raw().body()));
            assertEquals(code, r.errorCode(), body);
            assertEquals(field, r.errorField(), body);
            assertFalse(r.json().path("error").path("message").asText().isBlank());
        }
    }

    private static int pixelsPerLatent(String model) throws Exception {
        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            if (m.get("name").asText().equals(model)) {
                return m.get("pixels_per_latent").asInt();
            }
        }
        throw new AssertionError("model " + model + " not listed");
    }

    @Test
    void sd3RefusesDiffusionSamplersAndOffGridSizes() throws Exception {
        Fixtures.require("pipeline_sd3/model");
        expect400("{\"model\":\"tiny-sd3\",\"sampler\":\"ddim\"}", "unsupported_sampler", "sampler");
        expect400("{\"model\":\"tiny-sd3\",\"sampler\":\"euler\",\"schedule\":\"karras\"}", "unsupported_sampler",
                "sampler");
        int unit = pixelsPerLatent("tiny-sd3");
        int offGrid = 64 % (2 * unit) == 0 ? 64 + unit : 64; // a multiple of the latent factor, not of the patch grid
        expect400("{\"model\":\"tiny-sd3\",\"width\":" + offGrid + ",\"height\":64}", "invalid_value", "width");
        // true CFG belongs to guidance-distilled models; SD 3 guides with guidance_scale itself
        expect400("{\"model\":\"tiny-sd3\",\"true_cfg_scale\":2}", "invalid_value", "true_cfg_scale");
    }

    @Test
    void ditRefusesFlowSamplersUnknownClassesAndGuidanceRescale() throws Exception {
        Fixtures.require("dit");
        expect400("{\"model\":\"tiny-dit\",\"sampler\":\"flow_euler\",\"class_label\":1}", "unsupported_sampler",
                "sampler");
        expect400("{\"model\":\"tiny-dit\",\"sampler\":\"ddim\",\"schedule\":\"karras\",\"class_label\":1}",
                "unsupported_combination", "schedule");
        expect400("{\"model\":\"tiny-dit\",\"class_label\":4000}", "invalid_value", "class_label");
        expect400("{\"model\":\"tiny-dit\",\"class_label\":1,\"guidance_scale\":4,\"guidance_rescale\":0.5}",
                "invalid_value", "guidance_rescale");
    }
}
