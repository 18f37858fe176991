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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The AUTOMATIC1111 routes over real HTTP around the scripted pipeline: response shapes, per-image seeds with
 * batch_size and n_iter, A1111 sampler and scheduler names reaching the job as native ones, errors in both dialects
 * (A1111's status and {@code detail}, the native {@code error.field}), progress, interrupt and skip, auth and quotas
 * as on the native routes, and a request that outlives the connector's idle timeout.
 */
class SdApiServerTest {

    @TempDir
    Path dir;

    static JsonNode info(TestServer.Reply r) throws Exception {
        assertEquals(200, r.status(), () -> new String(r.raw().body()));
        assertTrue(r.json().get("info").isTextual(), "info is a JSON string");
        return TestServer.JSON.readTree(r.json().get("info").asText());
    }

    static BufferedImage decode(String b64) throws Exception {
        assertFalse(b64.startsWith("data:"));
        return ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64)));
    }

    @Test
    void txt2imgMakesOneImagePerSeedOverBatchesAndIterations() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = ts.post("/sdapi/v1/txt2img", """
                    {"prompt":"a cat","negative_prompt":"dog","seed":100,"steps":3,"width":64,"height":96,
                     "batch_size":2,"n_iter":2,"cfg_scale":6.5,"unknown_key":{"x":1}}""");
            JsonNode info = info(r);
            assertEquals(4, r.json().get("images").size());
            for (JsonNode img : r.json().get("images")) {
                BufferedImage b = decode(img.asText());
                assertEquals(64, b.getWidth());
                assertEquals(96, b.getHeight());
            }
            List<Long> seeds = new ArrayList<>();
            info.get("all_seeds").forEach(s -> seeds.add(s.asLong()));
            assertEquals(List.of(100L, 101L, 102L, 103L), seeds);
            assertEquals(100, info.get("seed").asLong());
            assertEquals(4, info.get("infotexts").size());
            assertEquals(4, info.get("all_prompts").size());
            assertEquals(2, info.get("batch_size").asInt());
            assertEquals(6.5, info.get("cfg_scale").asDouble());
            assertEquals("tiny", info.get("sd_model_name").asText());
            assertEquals(TestServer.HASH.substring(0, 10), info.get("sd_model_hash").asText());
            for (String key : List.of("prompt", "all_negative_prompts", "subseed", "all_subseeds", "width",
                    "height", "sampler_name", "steps", "clip_skip", "index_of_first_image", "job_timestamp",
                    "version")) {
                assertTrue(info.has(key), key + " in info " + info);
            }
            assertTrue(info.get("infotexts").get(1).asText().contains("Seed: 101"), info.toString());
            assertTrue(info.get("infotexts").get(0).asText().startsWith("a cat\nNegative prompt: dog\n"));
            // the echo: defaults filled, unknown keys dropped
            JsonNode p = r.json().get("parameters");
            assertEquals(2, p.get("n_iter").asInt());
            assertEquals("Euler", p.get("sampler_index").asText());
            assertTrue(p.get("send_images").asBoolean());
            assertFalse(p.has("unknown_key"));
            // each image is the native job of its seed
            String job = info.get("job_ids").get(2).asText();
            JsonNode rec = ts.get("/v1/generations/" + job).json();
            assertEquals(102, rec.at("/parameters/seed").asLong());
            assertEquals(1, rec.at("/parameters/batch_size").asInt());
            assertEquals("euler", rec.at("/parameters/sampler").asText(), "A1111's API default sampler is Euler");
        }
    }

    @Test
    void a1111SamplerAndSchedulerNamesReachTheJobAsNativeOnes() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            String[][] cases = {{"DPM++ 2M Karras", null, "dpmpp_2m", "karras", "DPM++ 2M"},
                {"DPM++ 2M", "Exponential", "dpmpp_2m", "exponential", "DPM++ 2M"},
                {"Euler a", "sgm_uniform", "euler_ancestral", "trailing", "Euler a"},
                {"k_euler", "Karras", "euler", "karras", "Euler"}, {"UniPC", "Automatic", "unipc", "default", "UniPC"},
                {"DDIM", "uniform", "ddim", "linspace", "DDIM"},
                {"DPM++ 2M SDE Karras", null, "dpmpp_2m_sde", "karras", "DPM++ 2M SDE"},
                {"k_dpmpp_2m_sde", "Exponential", "dpmpp_2m_sde", "exponential", "DPM++ 2M SDE"},
                {"DPM++ SDE Karras", null, "dpmpp_sde", "karras", "DPM++ SDE"},
                {"DPM2 a", "Karras", "dpm_2_ancestral", "karras", "DPM2 a"},
                {"k_dpm_2", "Beta", "dpm_2", "beta_sigmas", "DPM2"}, {"LMS", "normal", "lms", "linspace", "LMS"}, {"LMS", "KL Optimal", "lms", "kl_optimal", "LMS"},
                {"DPM++ 2S a", "polyexponential", "dpmpp_2s_ancestral", "polyexponential", "DPM++ 2S a"},
                {"DPM++ 3M SDE", "exponential", "dpmpp_3m_sde", "exponential", "DPM++ 3M SDE"},
                {"DPM++ 2M", "Align Your Steps", "dpmpp_2m", "align_your_steps", "DPM++ 2M"},
                // "Automatic" is the sampler's own schedule where A1111 1.9+ gives it one
                {"DPM++ 2M", null, "dpmpp_2m", "karras", "DPM++ 2M"},
                {"DPM++ 2M SDE", "Automatic", "dpmpp_2m_sde", "exponential", "DPM++ 2M SDE"},
                {"DPM2 a", "", "dpm_2_ancestral", "karras", "DPM2 a"}, {"LMS", null, "lms", "default", "LMS"}};
            for (String[] c : cases) {
                String body = "{\"prompt\":\"x\",\"steps\":2,\"width\":64,\"height\":64,\"sampler_name\":\"" + c[0]
                        + "\"" + (c[1] == null ? "" : ",\"scheduler\":\"" + c[1] + "\"") + "}";
                JsonNode info = info(ts.post("/sdapi/v1/txt2img", body));
                JsonNode rec = ts.get("/v1/generations/" + info.get("job_ids").get(0).asText()).json();
                assertEquals(c[2], rec.at("/parameters/sampler").asText(), body);
                assertEquals(c[3], rec.at("/parameters/schedule").asText(), body);
                assertEquals(c[4], info.get("sampler_name").asText(), body);
                if (c[1] != null && c[1].equals("Beta")) {
                    // the infotext names the schedule as A1111 does, so its png-info reads it back as its own Beta
                    assertTrue(info.get("infotexts").get(0).asText().contains("Schedule type: Beta,"),
                            info.get("infotexts").toString());
                }
            }
            // sampler_index is read when sampler_name is absent
            JsonNode info = info(ts.post("/sdapi/v1/txt2img", "{\"prompt\":\"x\",\"steps\":2,\"width\":64,"
                    + "\"height\":64,\"sampler_index\":\"Heun\"}"));
            assertEquals("Heun", info.get("sampler_name").asText());
        }
    }

    /**
     * A1111 drops the next-to-last level for DPM2, DPM2 a and DPM++ 3M SDE (their entries' option), and for any
     * k-diffusion sampler under {@code override_settings.always_discard_next_to_last_sigma}, which its infotext and
     * {@code extra_generation_params} then record; the native job asks for it and records it in its parameters.
     * The levels themselves: {@code SdApiFixtureTest}.
     */
    @Test
    void dpm2AndTheAlwaysSettingDropTheNextToLastLevel() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            String[][] cases = {{"DPM2", "", "true"}, {"DPM2 a Karras", "", "true"}, {"DPM++ 3M SDE", "", "true"},
                {"Euler", "", "false"}, {"DPM++ 2M", "", "false"}, {"DDIM", "", "false"},
                {"Euler", ",\"override_settings\":{\"always_discard_next_to_last_sigma\":true}", "true"},
                {"DPM2", ",\"override_settings\":{\"always_discard_next_to_last_sigma\":false}", "true"},
                {"Euler", ",\"override_settings\":{\"always_discard_next_to_last_sigma\":false}", "false"}};
            for (String[] c : cases) {
                String body = "{\"prompt\":\"x\",\"steps\":3,\"width\":64,\"height\":64,\"sampler_name\":\""
                        + c[0] + "\"" + c[1] + "}";
                boolean dropped = Boolean.parseBoolean(c[2]);
                JsonNode info = info(ts.post("/sdapi/v1/txt2img", body));
                assertEquals(dropped, ts.pipeline.last.discardPenultimateSigma(), body);
                assertEquals(3, ts.pipeline.last.steps(), body);
                JsonNode rec = ts.get("/v1/generations/" + info.get("job_ids").get(0).asText()).json();
                assertEquals(dropped, rec.at("/parameters/discard_penultimate_sigma").asBoolean(false), body);
                assertEquals(dropped, rec.at("/parameters").has("discard_penultimate_sigma"), "recorded when on");
                // A1111 writes the key only when the setting, not the sampler, dropped the level
                boolean forced = dropped && c[0].equals("Euler");
                String text = info.get("infotexts").get(0).asText();
                assertEquals(forced, text.contains("Discard penultimate sigma: True"), body + ": " + text);
                assertEquals(forced, info.at("/extra_generation_params/Discard penultimate sigma").asBoolean(false),
                        body);
            }
            expect(ts, "{\"steps\":2,\"override_settings\":{\"always_discard_next_to_last_sigma\":\"yes\"}}", 422,
                    "override_settings.always_discard_next_to_last_sigma");
            expect(ts, "{\"steps\":2,\"sampler_name\":\"DDIM\",\"override_settings\":"
                    + "{\"always_discard_next_to_last_sigma\":true}}", 422,
                    "override_settings.always_discard_next_to_last_sigma");
        }
    }

    /**
     * As A1111 1.9+ ({@code get_sampler_and_scheduler}): a sampler name A1111 does not know runs its first sampler,
     * DPM++ 2M (with its Automatic schedule, Karras), a scheduler name it does not know runs Automatic.
     */
    @Test
    void namesA1111DoesNotKnowRunItsDefaults() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = ts.post("/sdapi/v1/txt2img", "{\"steps\":2,\"sampler_name\":\"Nope 3000\"}");
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            assertEquals("dpmpp_2m", ts.pipeline.last.sampler());
            assertEquals("karras", ts.pipeline.last.schedule());
            TestServer.Reply s = ts.post("/sdapi/v1/txt2img",
                    "{\"steps\":2,\"sampler_name\":\"Euler\",\"scheduler\":\"Align Your Steps GITS\"}");
            assertEquals(200, s.status(), () -> new String(s.raw().body()));
            assertEquals("euler", ts.pipeline.last.sampler());
            assertEquals("default", ts.pipeline.last.schedule(), "Automatic: Euler keeps the model's schedule");
            TestServer.Reply t = ts.post("/sdapi/v1/txt2img", "{\"steps\":2,\"sampler_name\":\"Foo Exponential\"}");
            assertEquals(200, t.status(), () -> new String(t.raw().body()));
            assertEquals("dpmpp_2m", ts.pipeline.last.sampler());
            assertEquals("exponential", ts.pipeline.last.schedule(), "the label at the end is kept, as A1111 keeps it");
            TestServer.Reply restart = ts.post("/sdapi/v1/txt2img",
                    "{\"steps\":2,\"sampler_name\":\"Restart Karras\"}");
            assertEquals(404, restart.status(), "an A1111 sampler not run here, with a label, is still refused");
            TestServer.Reply vaes = ts.get("/sdapi/v1/sd-vae");
            assertEquals(200, vaes.status(), "SillyTavern lists A1111's VAE files");
            assertEquals("[]", vaes.json().toString());
        }
    }

    @Test
    void errorsCarryA1111StatusAndDetailAndNameTheField() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = ts.post("/sdapi/v1/txt2img", "{\"sampler_name\":\"DPM adaptive\"}");
            assertEquals(404, r.status(), "an A1111 sampler this server does not run");
            assertEquals("Sampler not found", r.json().get("detail").asText());
            assertEquals("sampler_name", r.errorField());
            r = ts.post("/sdapi/v1/txt2img", "{\"steps\":\"many\"}");
            assertEquals(422, r.status());
            assertEquals("steps", r.json().at("/detail/0/loc/1").asText());
            assertEquals("body", r.json().at("/detail/0/loc/0").asText());
            assertEquals("steps", r.errorField());
            r = ts.post("/sdapi/v1/txt2img", "{\"width\":[64]}");
            assertEquals(422, r.status());
            assertEquals("width", r.errorField());
            // pydantic v1 coerces numeric strings
            assertEquals(200, ts.post("/sdapi/v1/txt2img", "{\"steps\":\"2\",\"width\":64,\"height\":64.0}")
                    .status());
            expect(ts, "{\"width\":100,\"steps\":2}", 422, "width");
            expect(ts, "{\"steps\":0}", 422, "steps");
            expect(ts, "{\"steps\":2,\"cfg_scale\":99}", 422, "cfg_scale");
            expect(ts, "{\"steps\":2,\"restore_faces\":true}", 422, "restore_faces");
            expect(ts, "{\"steps\":2,\"script_name\":\"x/y/z plot\"}", 422, "script_name");
            expect(ts, "{\"steps\":2,\"alwayson_scripts\":{\"ControlNet\":{\"args\":[]}}}", 422,
                    "alwayson_scripts.ControlNet");
            expect(ts, "{\"steps\":2,\"override_settings\":{\"sd_model_checkpoint\":\"missing\"}}", 404,
                    "override_settings.sd_model_checkpoint");
            expect(ts, "{\"steps\":2,\"override_settings\":{\"CLIP_stop_at_last_layers\":40}}", 422,
                    "override_settings.CLIP_stop_at_last_layers");
            expect(ts, "{\"steps\":2,\"enable_hr\":true,\"hr_upscaler\":\"ESRGAN_4x\"}", 422, "hr_upscaler");
            expect(ts, "{\"steps\":2,\"n_iter\":0}", 422, "n_iter");
            TestServer.Reply bad = ts.post("/sdapi/v1/img2img", "{\"steps\":2}");
            assertEquals(422, bad.status());
            assertEquals("init_images", bad.errorField());
            bad = ts.post("/sdapi/v1/img2img", "{\"steps\":2,\"init_images\":[\"!!notbase64\"]}");
            assertEquals(422, bad.status());
            assertEquals("init_images[0]", bad.errorField());
            TestServer.Reply opt = ts.post("/sdapi/v1/options", "{\"sd_model_checkpoint\":\"nope\"}");
            assertEquals(404, opt.status());
            assertEquals("sd_model_checkpoint", opt.errorField());
        }
    }

    private static void expect(TestServer ts, String body, int status, String field) throws Exception {
        TestServer.Reply r = ts.post("/sdapi/v1/txt2img", body);
        assertEquals(status, r.status(), () -> body + ": " + new String(r.raw().body()));
        assertEquals(field, r.errorField(), body);
        assertTrue(r.json().get("detail").isTextual() || r.json().get("detail").isArray(), body);
    }

    @Test
    void listingsAndOptionsHaveA1111Shapes() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            JsonNode models = ts.get("/sdapi/v1/sd-models").json();
            assertEquals(1, models.size());
            JsonNode m = models.get(0);
            assertEquals("tiny [" + TestServer.HASH.substring(0, 10) + "]", m.get("title").asText());
            assertEquals("tiny", m.get("model_name").asText());
            assertEquals(TestServer.HASH, m.get("sha256").asText());
            assertTrue(m.has("filename") && m.has("config") && m.has("hash"));
            JsonNode samplers = ts.get("/sdapi/v1/samplers").json();
            List<String> names = new ArrayList<>();
            samplers.forEach(s -> names.add(s.get("name").asText()));
            assertTrue(names.containsAll(List.of("Euler a", "Euler", "DPM++ 2M", "DDIM", "UniPC", "LCM")), names.toString());
            assertTrue(samplers.get(0).get("aliases").isArray() && samplers.get(0).get("options").isObject());
            samplers.forEach(s -> {
                if (s.get("name").asText().equals("DPM++ 2M")) {
                    assertEquals("karras", s.at("/options/scheduler").asText(), "A1111's own schedule for DPM++ 2M");
                }
                if (s.get("name").asText().equals("Euler")) {
                    assertTrue(s.get("options").isEmpty(), "Euler has none");
                }
            });
            JsonNode schedulers = ts.get("/sdapi/v1/schedulers").json();
            assertEquals("automatic", schedulers.get(0).get("name").asText());
            assertTrue(schedulers.get(0).has("label"));
            assertEquals("Latent", ts.get("/sdapi/v1/latent-upscale-modes").json().get(0).get("name").asText());
            assertTrue(ts.get("/sdapi/v1/upscalers").json().get(0).has("scale"));
            assertTrue(ts.get("/sdapi/v1/loras").json().isArray());
            JsonNode options = ts.get("/sdapi/v1/options").json();
            assertEquals(m.get("title").asText(), options.get("sd_model_checkpoint").asText());
            assertEquals(1, options.get("CLIP_stop_at_last_layers").asInt());
            assertEquals(200, ts.post("/sdapi/v1/options", "{\"sd_model_checkpoint\":\"" + m.get("title").asText()
                    + "\",\"CLIP_stop_at_last_layers\":2,\"some_other_option\":true}").status());
            assertEquals(2, ts.get("/sdapi/v1/options").json().get("CLIP_stop_at_last_layers").asInt());
            JsonNode info = info(ts.post("/sdapi/v1/txt2img", "{\"steps\":2,\"width\":64,\"height\":64}"));
            assertEquals(2, info.get("clip_skip").asInt(), "the key's option applies to later requests");
            JsonNode progress = ts.get("/sdapi/v1/progress").json();
            assertEquals(0.0, progress.get("progress").asDouble());
            assertTrue(progress.get("current_image").isNull());
            for (String k : List.of("job_count", "sampling_step", "sampling_steps", "job_no", "interrupted")) {
                assertTrue(progress.get("state").has(k), k);
            }
            assertEquals("{}", ts.post("/sdapi/v1/interrupt", "").json().toString());
            assertEquals("{}", ts.post("/sdapi/v1/skip", "").json().toString());
            TestServer.Reply none = ts.post("/sdapi/v1/txt2img", "{\"steps\":2,\"width\":64,\"height\":64,"
                    + "\"send_images\":false}");
            assertEquals(0, none.json().get("images").size());
            assertEquals(1, info(none).get("all_seeds").size());
        }
    }

    @Test
    void imagesSentInlineAreDroppedWhenTheRequestEnds() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
            ImageIO.write(new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB), "png", png);
            String b64 = Base64.getEncoder().encodeToString(png.toByteArray());
            TestServer.Reply r = ts.post("/sdapi/v1/img2img", "{\"prompt\":\"x\",\"steps\":2,\"width\":64,"
                    + "\"height\":64,\"init_images\":[\"" + b64 + "\"],\"mask\":\"" + b64 + "\","
                    + "\"inpainting_mask_invert\":1,\"n_iter\":2}");
            assertEquals(2, info(r).get("all_seeds").size());
            JsonNode rec = ts.get("/v1/generations/" + info(r).at("/job_ids/1").asText()).json();
            assertEquals(0.75, rec.at("/parameters/strength").asDouble(), "A1111's default denoising_strength");
            assertTrue(rec.at("/parameters/paste_back").asBoolean(), "A1111 pastes inpainting back");
            String metrics = new String(ts.get("/metrics").raw().body());
            assertTrue(metrics.contains("\njdiffuse_uploads_held_bytes "), "the upload budget's gauge is exported");
            assertEquals(0.0, MetricsText.sum(metrics, "jdiffuse_uploads_held_bytes", ""),
                    "the init image and mask are not kept after the request");
        }
    }

    @Test
    void progressDuringARequestAndInterruptReturnsWhatWasMade() throws Exception {
        // a connector idle timeout of 1 s: the request blocks longer than that without failing
        ServerOptions o = ServerOptions.defaults().withSafety(Safety.DEFAULTS.withSlowClients(8,
                Duration.ofSeconds(1)));
        try (TestServer ts = new TestServer(o, new ScriptedPipeline(0))) {
            CompletableFuture<TestServer.Reply> pending = CompletableFuture.supplyAsync(() -> call(ts,
                    "{\"prompt\":\"hold\",\"steps\":4,\"width\":64,\"height\":64,\"n_iter\":3,\"seed\":5}"));
            assertTrue(ts.pipeline.awaitHold(5000));
            JsonNode p = ts.get("/sdapi/v1/progress").json();
            assertEquals(3, p.at("/state/job_count").asInt(), p.toString());
            assertEquals(0, p.at("/state/job_no").asInt());
            assertEquals(1, p.at("/state/sampling_step").asInt());
            assertEquals(4, p.at("/state/sampling_steps").asInt());
            assertEquals(1.0 / 12, p.get("progress").asDouble(), 1e-9);
            Thread.sleep(2500);
            assertEquals("{}", ts.post("/sdapi/v1/interrupt", "").json().toString());
            ts.pipeline.release();
            TestServer.Reply r = pending.get(20, TimeUnit.SECONDS);
            JsonNode info = info(r);
            assertEquals(0, r.json().get("images").size(), "the interrupted image is cancelled, the rest never ran");
            assertEquals(0, info.get("all_seeds").size());
            assertEquals(1, ts.pipeline.runsOf("hold"));
        }
    }

    @Test
    void skipCancelsTheRunningImageAndGoesOn() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            CompletableFuture<TestServer.Reply> pending = CompletableFuture.supplyAsync(() -> call(ts,
                    "{\"prompt\":\"hold\",\"steps\":3,\"width\":64,\"height\":64,\"n_iter\":2,\"seed\":9}"));
            assertTrue(ts.pipeline.awaitHold(5000));
            assertEquals("{}", ts.post("/sdapi/v1/skip", "").json().toString());
            ts.pipeline.release();
            TestServer.Reply r = pending.get(20, TimeUnit.SECONDS);
            JsonNode info = info(r);
            assertEquals(1, r.json().get("images").size());
            assertEquals(10, info.get("all_seeds").get(0).asLong(), "the skipped image (seed 9) is left out");
        }
    }

    @Test
    void keysQuotasAndOwnershipApplyAsOnTheNativeRoutes() throws Exception {
        String alice = ApiKeys.newKey();
        String bob = ApiKeys.newKey();
        Path keys = dir.resolve("keys");
        Files.write(keys, List.of("alice:" + ApiKeys.sha256Hex(alice) + ":queued=1", "bob:"
                + ApiKeys.sha256Hex(bob)));
        try (TestServer ts = new TestServer(ServerOptions.defaults().withSafety(Safety.DEFAULTS.withApiKeys(keys)),
                new ScriptedPipeline(0))) {
            String body = "{\"prompt\":\"x\",\"steps\":2,\"width\":64,\"height\":64,\"batch_size\":3,\"seed\":1}";
            TestServer.Reply none = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/txt2img"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)));
            assertEquals(401, none.status());
            assertEquals(401, ts.get("/sdapi/v1/sd-models").status());
            // alice may have one job at a time: her batch runs one image after another
            TestServer.Reply r = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/txt2img"))
                    .header("Authorization", "Bearer " + alice).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)));
            JsonNode info = info(r);
            assertEquals(3, r.json().get("images").size());
            String job = info.get("job_ids").get(0).asText();
            TestServer.Reply mine = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations/" + job))
                    .header("Authorization", "Bearer " + alice).GET());
            assertEquals("alice", mine.json().get("owner").asText());
            TestServer.Reply theirs = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations/"
                    + job)).header("Authorization", "Bearer " + bob).GET());
            assertEquals(404, theirs.status());
            // A1111 clients' HTTP Basic: the key as the password
            String basic = Base64.getEncoder().encodeToString(("me:" + bob).getBytes());
            assertEquals(200, ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/sd-models"))
                    .header("Authorization", "Basic " + basic).GET()).status());
            String wrong = Base64.getEncoder().encodeToString("me:nope".getBytes());
            assertEquals(401, ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/sd-models"))
                    .header("Authorization", "Basic " + wrong).GET()).status());
            // options are per key
            ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/options"))
                    .header("Authorization", "Bearer " + alice).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"CLIP_stop_at_last_layers\":3}")));
            JsonNode bobs = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/options"))
                    .header("Authorization", "Bearer " + bob).GET()).json();
            assertEquals(1, bobs.get("CLIP_stop_at_last_layers").asInt());
        }
    }

    private static TestServer.Reply call(TestServer ts, String body) {
        try {
            return ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/txt2img"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
