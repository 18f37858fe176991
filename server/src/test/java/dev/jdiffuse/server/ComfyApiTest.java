package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.VaeTiling;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static dev.jdiffuse.server.ComfyWorkflows.defaultGraph;
import static dev.jdiffuse.server.ComfyWorkflows.inputs;
import static dev.jdiffuse.server.ComfyWorkflows.link;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ComfyUI routes over real HTTP and WebSocket against the scripted pipeline: ComfyUI's default workflow runs and
 * its client id hears ComfyUI's message sequence, the history and {@code /view} serve its image, {@code /object_info}
 * lists the model and the accepted names, refusals are ComfyUI's {@code {error, node_errors}} naming node and input
 * (graph checks, interpretation, and native validation mapped back), uploads feed LoadImage, interrupts and
 * failures end a prompt as ComfyUI reports them.
 */
class ComfyApiTest {

    static TestServer ts;

    @BeforeAll
    static void start() {
        ts = new TestServer(0);
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    static ObjectNode graph() {
        return defaultGraph("tiny.safetensors", 5, 4, 8, "euler", "normal", 64, 64, 1, "masterpiece best quality man",
                "bad hands");
    }

    static WsClient ws(String clientId) throws Exception {
        return new WsClient(ts.http, "ws://127.0.0.1:" + ts.server.port() + "/ws?clientId=" + clientId);
    }

    /** The messages up to ComfyUI's end marker for {@code promptId}: {@code executing} with node null. */
    static List<WsClient.Message> untilDone(WsClient c, String promptId) throws Exception {
        List<WsClient.Message> got = new ArrayList<>();
        while (true) {
            WsClient.Message m = c.next(Duration.ofSeconds(20));
            got.add(m);
            JsonNode d = m.json().path("data");
            if (m.type().equals("executing") && d.get("node").isNull() && d.path("prompt_id").asText().equals(promptId)) {
                return got;
            }
        }
    }

    static TestServer.Reply prompt(String body) throws Exception {
        return ts.post("/prompt", body);
    }

    @Test
    void defaultWorkflowRunsAndTellsTheSubmittingClient() throws Exception {
        try (WsClient c = ws("client-a"); WsClient other = ws("client-b")) {
            WsClient.Message hello = c.next(Duration.ofSeconds(5));
            assertEquals("status", hello.type());
            assertEquals("client-a", hello.json().at("/data/sid").asText());
            assertTrue(hello.json().at("/data/status/exec_info/queue_remaining").isInt());
            TestServer.Reply r = prompt(ComfyWorkflows.body(graph(), "client-a"));
            assertEquals(200, r.status(), new String(r.raw().body()));
            String id = r.json().get("prompt_id").asText();
            assertTrue(id.matches("[0-9a-f-]{36}"), id);
            assertTrue(r.json().get("number").isNumber());
            assertEquals(0, r.json().get("node_errors").size());
            List<String> types = new ArrayList<>();
            List<Integer> values = new ArrayList<>();
            JsonNode executed = null;
            for (WsClient.Message m : untilDone(c, id)) {
                JsonNode d = m.json().get("data");
                if (m.type().equals("status")) {
                    continue;
                }
                assertEquals(id, d.get("prompt_id").asText(), m.json().toString());
                types.add(m.type() + (m.type().equals("executing") ? ":" + d.get("node").asText() : ""));
                if (m.type().equals("progress")) {
                    assertEquals(4, d.get("max").asInt());
                    assertEquals("3", d.get("node").asText());
                    values.add(d.get("value").asInt());
                }
                if (m.type().equals("executed")) {
                    executed = d;
                }
            }
            List<String> expected = new ArrayList<>(List.of("execution_start", "execution_cached", "executing:3"));
            values.forEach(v -> expected.add("progress"));
            expected.addAll(List.of("executing:9", "executed", "execution_success", "executing:null"));
            assertEquals(expected, types);
            assertFalse(values.isEmpty());
            assertEquals(4, values.get(values.size() - 1), values.toString());
            assertNotNull(executed);
            assertEquals("9", executed.get("node").asText());
            JsonNode image = executed.at("/output/images/0");
            assertTrue(image.get("filename").asText().matches("ComfyUI_\\d{5}_\\.png"), image.toString());
            assertEquals("", image.get("subfolder").asText());
            assertEquals("output", image.get("type").asText());
            // the history entry
            JsonNode h = ts.get("/history/" + id).json().get(id);
            assertEquals(image, h.at("/outputs/9/images/0"));
            assertEquals("success", h.at("/status/status_str").asText());
            assertTrue(h.at("/status/completed").asBoolean());
            assertEquals("execution_start", h.at("/status/messages/0/0").asText());
            assertEquals(id, h.at("/prompt/1").asText());
            assertEquals("KSampler", h.at("/prompt/2/3/class_type").asText());
            assertEquals("9", h.at("/prompt/4/0").asText());
            assertTrue(ts.get("/api/history").json().has(id));
            // the image
            TestServer.Reply view = ts.get("/view?filename=" + image.get("filename").asText() + "&subfolder=&type=output");
            assertEquals(200, view.status());
            assertEquals("image/png", view.header("Content-Type"));
            BufferedImage png = ImageIO.read(new ByteArrayInputStream(view.raw().body()));
            assertEquals(64, png.getWidth());
            // the other client heard only queue status messages
            Thread.sleep(200);
            for (WsClient.Message m : other.messages) {
                assertEquals("status", m.type(), m.json().toString());
            }
            assertEquals(0, ts.get("/prompt").json().at("/exec_info/queue_remaining").asInt());
            JsonNode queue = ts.get("/queue").json();
            assertEquals(0, queue.get("queue_running").size());
            assertEquals(0, queue.get("queue_pending").size());
        }
    }

    /**
     * SaveImage's ComfyUI variables are filled in as ComfyUI's {@code compute_vars} fills them: the image's size and
     * the server's local date; a {@code %} that is not one of them is refused.
     */
    @Test
    void filenamePrefixVariablesAreFilledIn() throws Exception {
        ObjectNode g = graph();
        inputs(g, "9").put("filename_prefix", "%year%-%month%-%day%/shot_%width%x%height%");
        inputs(g, "3").put("steps", 2);
        String day = java.time.LocalDate.now().toString(); // yyyy-MM-dd, the same day as the save (bar midnight)
        try (WsClient c = ws("client-vars")) {
            String id = prompt(ComfyWorkflows.body(g, "client-vars")).json().get("prompt_id").asText();
            untilDone(c, id);
            JsonNode image = ts.get("/history/" + id).json().at("/" + id + "/outputs/9/images/0");
            assertEquals(day, image.get("subfolder").asText(), image.toString());
            assertTrue(image.get("filename").asText().startsWith("shot_64x64_"), image.toString());
            assertEquals(200, ts.get("/view?filename=" + enc(image.get("filename").asText()) + "&subfolder="
                    + enc(day) + "&type=output").status());
        }
        refused(h -> inputs(h, "9").put("filename_prefix", "%date%/x"), "9", "filename_prefix", "not_supported");
    }

    @Test
    void batchAndTwoOutputsShareOneJob() throws Exception {
        ObjectNode g = graph();
        inputs(g, "5").put("batch_size", 2);
        ObjectNode preview = ComfyWorkflows.node(g, "10", "PreviewImage");
        preview.set("images", link("8", 0));
        inputs(g, "9").put("filename_prefix", "shots/cat");
        try (WsClient c = ws("client-batch")) {
            String id = prompt(ComfyWorkflows.body(g, "client-batch")).json().get("prompt_id").asText();
            untilDone(c, id);
            JsonNode outputs = ts.get("/history/" + id).json().at("/" + id + "/outputs");
            assertEquals(2, outputs.at("/9/images").size());
            assertEquals("shots", outputs.at("/9/images/0/subfolder").asText());
            assertTrue(outputs.at("/9/images/0/filename").asText().startsWith("cat_"));
            assertEquals(2, outputs.at("/10/images").size());
            assertEquals("temp", outputs.at("/10/images/0/type").asText());
            byte[] saved = view(outputs.at("/9/images/1"));
            byte[] temp = view(outputs.at("/10/images/1"));
            assertTrue(java.util.Arrays.equals(saved, temp), "both outputs show the same job's image 1");
            assertFalse(java.util.Arrays.equals(view(outputs.at("/9/images/0")), saved), "two seeds, two images");
        }
    }

    /**
     * ComfyUI's k-diffusion sampler and scheduler names reach the job as the native ones (this server's pipeline is
     * scripted; the samplers themselves run through the real UNet in the models module's
     * {@code KDiffusionSamplersPipelineTest}).
     */
    @Test
    void kDiffusionSamplerNamesReachTheJob() throws Exception {
        String[][] runs = {{"dpmpp_sde_gpu", "kl_optimal", "dpmpp_sde"}, {"dpm_2_ancestral", "karras", "dpm_2_ancestral"},
            {"lms", "normal", "lms"}, {"dpmpp_3m_sde", "exponential", "dpmpp_3m_sde"}, {"euler", "beta", "euler"}};
        for (String[] run : runs) {
            ObjectNode g = graph();
            inputs(g, "3").put("sampler_name", run[0]);
            inputs(g, "3").put("scheduler", run[1]);
            inputs(g, "3").put("steps", 3);
            String client = "client-" + run[0];
            try (WsClient c = ws(client)) {
                String id = prompt(ComfyWorkflows.body(g, client)).json().get("prompt_id").asText();
                untilDone(c, id);
                JsonNode entry = ts.get("/history/" + id).json().get(id);
                assertEquals("success", entry.at("/status/status_str").asText(), String.join(" ", run));
                assertEquals(1, entry.at("/outputs/9/images").size(), String.join(" ", run));
                assertEquals(run[2], ts.pipeline.last.sampler(), String.join(" ", run));
                assertEquals(run[1].equals("normal") ? "linspace" : run[1], ts.pipeline.last.schedule());
            }
        }
    }

    /**
     * ComfyUI's KSampler and KSamplerAdvanced compute one step more and drop the next-to-last level for exactly
     * {@code dpm_2}, {@code dpm_2_ancestral}, {@code uni_pc} and {@code uni_pc_bh2} ({@code KSampler.calculate_sigmas},
     * {@code DISCARD_PENULTIMATE_SIGMA_SAMPLERS}): their native job asks for it and keeps the graph's steps; euler and
     * the others do not (the levels themselves: {@code ComfyFixtureTest}).
     */
    @Test
    void dpm2AndUniPcJobsDropTheNextToLastLevel() throws Exception {
        String[][] runs = {{"dpm_2", "true"}, {"dpm_2_ancestral", "true"}, {"uni_pc", "true"}, {"uni_pc_bh2", "true"},
            {"euler", "false"}, {"dpmpp_2m", "false"}, {"dpmpp_3m_sde", "false"}, {"ddim", "false"}};
        for (boolean advanced : new boolean[] {false, true}) {
            for (String[] run : runs) {
                String what = run[0] + (advanced ? " (KSamplerAdvanced)" : "");
                ObjectNode g = graph();
                ObjectNode k = inputs(g, "3");
                k.put("sampler_name", run[0]);
                k.put("scheduler", "karras");
                k.put("steps", 3);
                if (advanced) {
                    ((ObjectNode) g.get("3")).put("class_type", "KSamplerAdvanced");
                    k.put("noise_seed", k.remove("seed").asLong());
                    k.remove("denoise");
                    k.put("add_noise", "enable");
                    k.put("start_at_step", 0);
                    k.put("end_at_step", 10000);
                    k.put("return_with_leftover_noise", "disable");
                }
                TestServer.Reply r = prompt(ComfyWorkflows.body(g, "client-drop-" + run[0] + advanced));
                assertEquals(200, r.status(), () -> what + ": " + new String(r.raw().body()));
                String id = r.json().get("prompt_id").asText();
                // the history entry, polled (sixteen WebSocket round trips made this test the slowest to wait for)
                JsonNode entry = null;
                for (long until = System.nanoTime() + 60_000_000_000L; System.nanoTime() < until; Thread.sleep(20)) {
                    entry = ts.get("/history/" + id).json().get(id);
                    if (entry != null) { // only finished prompts are in the history
                        break;
                    }
                }
                assertTrue(entry != null, what + ": no history entry");
                assertEquals("success", entry.at("/status/status_str").asText(), what);
                assertEquals(Boolean.parseBoolean(run[1]), ts.pipeline.last.discardPenultimateSigma(), what);
                assertEquals(3, ts.pipeline.last.steps(), what + ": the graph's steps");
            }
        }
    }

    /**
     * VAEDecodeTiled decodes in tiles: the native job gets {@code vae_tiling: always} with the node's
     * {@code tile_size}; a tile size the native API refuses is refused naming the node's input.
     */
    @Test
    void vaeDecodeTiledAsksForTiles() throws Exception {
        ObjectNode g = graph();
        tiledDecode(g, 256);
        inputs(g, "3").put("steps", 2);
        assertEquals("success", runToHistory(g, "client-tiled").at("/status/status_str").asText());
        assertEquals(new VaeTiling(VaeTiling.Mode.ALWAYS, 256), ts.pipeline.last.vaeTiling());
        refused(h -> tiledDecode(h, 100), "8", "tile_size", "invalid_input");
    }

    /**
     * VAEEncodeTiled (image to image) goes with a VAEDecodeTiled of the same tile size: one tiling for the job's
     * encoding and decoding here; a tiled encoding with a whole decoding, or two tile sizes, are refused naming the
     * encoder.
     */
    @Test
    void vaeEncodeTiledGoesWithATiledDecodeOfTheSameSize() throws Exception {
        upload("tiles.png", new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB), true);
        ObjectNode g = tiledEncode(ComfyWorkflows.img2img(graph(), "tiles.png", 0.5), 256);
        tiledDecode(g, 256);
        inputs(g, "3").put("steps", 2);
        assertEquals("success", runToHistory(g, "client-tiled-i2i").at("/status/status_str").asText());
        assertEquals(new VaeTiling(VaeTiling.Mode.ALWAYS, 256), ts.pipeline.last.vaeTiling());
        refused(h -> tiledEncode(ComfyWorkflows.img2img(h, "tiles.png", 0.5), 256), "11", null, "not_supported");
        refused(h -> tiledDecode(tiledEncode(ComfyWorkflows.img2img(h, "tiles.png", 0.5), 512), 256), "11",
                "tile_size", "not_supported");
    }

    /** {@code g} sent as {@code client}'s prompt, and its history entry once it has ended (polled, up to 60 s). */
    private static JsonNode runToHistory(ObjectNode g, String client) throws Exception {
        TestServer.Reply r = prompt(ComfyWorkflows.body(g, client));
        assertEquals(200, r.status(), () -> new String(r.raw().body()));
        String id = r.json().get("prompt_id").asText();
        JsonNode entry = null;
        for (long until = System.nanoTime() + 60_000_000_000L; entry == null && System.nanoTime() < until; ) {
            Thread.sleep(20);
            entry = ts.get("/history/" + id).json().get(id);
        }
        assertTrue(entry != null, "no history entry");
        return entry;
    }

    /** {@code g}'s VAEEncode (11) made a VAEEncodeTiled of {@code tileSize} with ComfyUI's other defaults. */
    private static ObjectNode tiledEncode(ObjectNode g, int tileSize) {
        return tiled(g, "11", "VAEEncodeTiled", tileSize);
    }

    /** The default graph's VAEDecode (8) made a VAEDecodeTiled of {@code tileSize} with ComfyUI's other defaults. */
    private static ObjectNode tiledDecode(ObjectNode g, int tileSize) {
        return tiled(g, "8", "VAEDecodeTiled", tileSize);
    }

    private static ObjectNode tiled(ObjectNode g, String node, String classType, int tileSize) {
        ((ObjectNode) g.get(node)).put("class_type", classType);
        ObjectNode in = inputs(g, node);
        in.put("tile_size", tileSize);
        in.put("overlap", 64);
        in.put("temporal_size", 64);
        in.put("temporal_overlap", 8);
        return g;
    }

    static byte[] view(JsonNode image) throws Exception {
        TestServer.Reply r = ts.get("/view?filename=" + enc(image.get("filename").asText()) + "&subfolder="
                + enc(image.get("subfolder").asText()) + "&type=" + image.get("type").asText());
        assertEquals(200, r.status(), image.toString());
        return r.raw().body();
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    @Test
    void objectInfoListsTheModelAndTheAcceptedNames() throws Exception {
        JsonNode info = ts.get("/object_info").json();
        JsonNode ckpt = info.at("/CheckpointLoaderSimple/input/required/ckpt_name/0");
        assertTrue(ckpt.toString().contains("\"tiny.safetensors\""), ckpt.toString());
        assertEquals("MODEL", info.at("/CheckpointLoaderSimple/output/0").asText());
        String samplers = info.at("/KSampler/input/required/sampler_name/0").toString();
        for (String s : List.of("euler", "euler_ancestral", "dpmpp_2m", "uni_pc", "ddim", "lms", "dpm_2",
                "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_3m_sde", "ipndm",
                "res_multistep")) {
            assertTrue(samplers.contains("\"" + s + "\""), samplers);
        }
        String schedulers = info.at("/KSampler/input/required/scheduler/0").toString();
        assertTrue(schedulers.contains("\"normal\"") && schedulers.contains("\"karras\"")
                && schedulers.contains("\"kl_optimal\"") && schedulers.contains("\"beta\""), schedulers);
        assertFalse(schedulers.contains("\"linear_quadratic\""), "linear_quadratic is not offered: " + schedulers);
        assertEquals(20, info.at("/KSampler/input/required/steps/1/default").asInt());
        assertTrue(info.at("/SaveImage/output_node").asBoolean());
        assertEquals(List.of("KSampler"), names(ts.get("/object_info/KSampler").json()));
        assertEquals(0, ts.get("/object_info/UpscaleModelLoader").json().size());
        assertEquals(info, ts.get("/api/object_info").json());
        assertTrue(ts.get("/models/checkpoints").json().toString().contains("tiny.safetensors"));
        assertEquals(404, ts.get("/models/vae_approx").status());
        JsonNode stats = ts.get("/system_stats").json();
        assertTrue(stats.at("/system/comfyui_version").asText().startsWith("jdiffuse"));
        assertTrue(stats.get("devices").size() >= 1);
        assertFalse(ts.get("/api/features").json().get("supports_preview_metadata").asBoolean());
    }

    static List<String> names(JsonNode n) {
        List<String> l = new ArrayList<>();
        n.fieldNames().forEachRemaining(l::add);
        return l;
    }

    /** A refusal: 400, ComfyUI's shape, node {@code node} input {@code input} with an error of {@code type}. */
    static void refused(Consumer<ObjectNode> change, String node, String input, String type) throws Exception {
        ObjectNode g = graph();
        change.accept(g);
        TestServer.Reply r = prompt(ComfyWorkflows.body(g, null));
        String text = new String(r.raw().body());
        assertEquals(400, r.status(), text);
        assertEquals("prompt_outputs_failed_validation", r.json().at("/error/type").asText(), text);
        JsonNode errors = r.json().at("/node_errors/" + node + "/errors");
        assertTrue(errors.isArray() && errors.size() >= 1, "node " + node + " named: " + text);
        JsonNode e = errors.get(0);
        assertEquals(type, e.get("type").asText(), text);
        if (input != null) {
            assertEquals(input, e.at("/extra_info/input_name").asText(), text);
            assertTrue(e.get("details").asText().startsWith(input), text);
        }
        assertEquals(g.get(node).get("class_type").asText(), r.json().at("/node_errors/" + node + "/class_type")
                .asText());
        assertTrue(r.json().at("/error/details").asText().contains("node " + node), text);
    }

    @Test
    void graphErrorsNameTheNodeAndInput() throws Exception {
        refused(g -> inputs(g, "3").set("model", link("99", 0)), "3", "model", "bad_linked_input");
        refused(g -> inputs(g, "3").set("model", link("4", 1)), "3", "model", "return_type_mismatch");
        refused(g -> inputs(g, "3").set("model", link("4", 7)), "3", "model", "bad_linked_input");
        refused(g -> inputs(g, "3").set("model", TestServer.JSON.createArrayNode().add("4")), "3", "model",
                "bad_linked_input");
        refused(g -> inputs(g, "4").put("ckpt_name", "v1-5-pruned-emaonly.ckpt"), "4", "ckpt_name",
                "value_not_in_list");
        refused(g -> inputs(g, "3").put("sampler_name", "dpm_adaptive"), "3", "sampler_name", "value_not_in_list");
        refused(g -> inputs(g, "3").put("scheduler", "linear_quadratic"), "3", "scheduler", "value_not_in_list");
        refused(g -> inputs(g, "3").put("steps", 0), "3", "steps", "value_smaller_than_min");
        refused(g -> inputs(g, "3").put("steps", "many"), "3", "steps", "invalid_input_type");
        refused(g -> inputs(g, "3").remove("seed"), "3", "seed", "required_input_missing");
        refused(g -> inputs(g, "9").set("images", link("5", 0)), "9", "images", "return_type_mismatch");
        refused(g -> inputs(g, "3").set("latent_image", link("3", 0)), "3", null, "dependency_cycle");
        refused(g -> inputs(g, "5").put("width", 8), "5", "width", "value_smaller_than_min");
    }

    @Test
    void whatCannotBeHonouredIsRefusedNamingTheNodeAndInput() throws Exception {
        refused(g -> inputs(g, "3").put("denoise", 0.5), "3", "denoise", "not_supported");
        refused(g -> inputs(g, "9").put("filename_prefix", "../escape"), "9", "filename_prefix", "not_supported");
        refused(g -> inputs(g, "6").put("text", "a cat <lora:x:1>"), "6", "text", "not_supported");
        refused(g -> {
            ObjectNode dual = ComfyWorkflows.node(g, "12", "DualCLIPLoader");
            dual.put("clip_name1", "tiny");
            dual.put("clip_name2", "tiny.safetensors");
            dual.put("type", "sdxl");
            inputs(g, "7").set("clip", link("12", 0));
        }, "12", "type", "not_supported");
        refused(g -> {
            ObjectNode unet = ComfyWorkflows.node(g, "12", "UNETLoader");
            unet.put("unet_name", "tiny.safetensors");
            unet.put("weight_dtype", "fp8_e4m3fn");
            inputs(g, "3").set("model", link("12", 0));
        }, "12", "weight_dtype", "not_supported");
        refused(g -> {
            ObjectNode f = ComfyWorkflows.node(g, "13", "FluxGuidance");
            f.set("conditioning", link("6", 0));
            f.put("guidance", 3.5);
            inputs(g, "3").set("positive", link("13", 0));
        }, "13", "guidance", "not_supported");
        refused(g -> {
            ObjectNode s = ComfyWorkflows.node(g, "14", "CLIPSetLastLayer");
            s.set("clip", link("4", 1));
            s.put("stop_at_clip_layer", -2);
            inputs(g, "6").set("clip", link("14", 0));
        }, "7", "clip", "not_supported");
    }

    @Test
    void nativeValidationIsMappedBackToTheInput() throws Exception {
        refused(g -> inputs(g, "3").put("steps", 2000), "3", "steps", "invalid_input");
        refused(g -> inputs(g, "5").put("width", 100), "5", "width", "invalid_input");
        refused(g -> {
            inputs(g, "3").put("sampler_name", "lcm");
            inputs(g, "3").put("scheduler", "karras");
        }, "3", "scheduler", "invalid_input");
        refused(g -> inputs(g, "5").put("batch_size", 99), "5", "batch_size", "invalid_input");
    }

    @Test
    void promptLevelRefusals() throws Exception {
        ObjectNode g = graph();
        ((ObjectNode) g.get("8")).put("class_type", "UpscaleModelLoader");
        TestServer.Reply r = prompt(ComfyWorkflows.body(g, null));
        assertEquals(400, r.status());
        assertEquals("missing_node_type", r.json().at("/error/type").asText());
        assertEquals("8", r.json().at("/error/extra_info/node_id").asText());
        assertTrue(r.json().at("/error/message").asText().contains("UpscaleModelLoader"));
        g = graph();
        ((ObjectNode) g.get("8")).remove("class_type");
        assertEquals("missing_node_type", prompt(ComfyWorkflows.body(g, null)).json().at("/error/type").asText());
        g = graph();
        g.remove("9");
        assertEquals("prompt_no_outputs", prompt(ComfyWorkflows.body(g, null)).json().at("/error/type").asText());
        assertEquals("no_prompt", prompt("{\"client_id\":\"x\"}").json().at("/error/type").asText());
        ObjectNode b = (ObjectNode) TestServer.JSON.readTree(ComfyWorkflows.body(graph(), null));
        b.put("prompt_id", "not-a-uuid");
        r = prompt(b.toString());
        assertEquals(400, r.status());
        assertEquals("invalid_prompt_id", r.json().at("/error/type").asText());
        String id = java.util.UUID.randomUUID().toString();
        b.put("prompt_id", id);
        r = prompt(b.toString());
        assertEquals(200, r.status(), new String(r.raw().body()));
        assertEquals(id, r.json().get("prompt_id").asText());
        assertEquals("invalid_prompt_id", prompt(b.toString()).json().at("/error/type").asText(), "id taken");
        b.put("prompt_id", id.toUpperCase());
        assertEquals("invalid_prompt_id", prompt(b.toString()).json().at("/error/type").asText(), "not canonical");
    }

    @Test
    void viewServesOnlyTheNamesItIssued() throws Exception {
        assertEquals(404, ts.get("/view?filename=ComfyUI_99999_.png&type=output").status());
        assertEquals(404, ts.get("/view?filename=" + enc("../../etc/passwd") + "&type=output").status());
        assertEquals(404, ts.get("/view?filename=x.png&subfolder=" + enc("..") + "&type=output").status());
        assertEquals(400, ts.get("/view").status());
    }

    static String upload(String name, BufferedImage img, boolean overwrite) throws Exception {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(img, "png", png);
        String boundary = "----comfy" + System.nanoTime();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + name
                + "\"\r\nContent-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(png.toByteArray());
        body.writeBytes(("\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\n"
                + overwrite + "\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        TestServer.Reply r = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/upload/image"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
        assertEquals(200, r.status(), new String(r.raw().body()));
        assertEquals("input", r.json().get("type").asText());
        assertEquals("", r.json().get("subfolder").asText());
        return r.json().get("name").asText();
    }

    @Test
    void uploadedImagesFeedLoadImage() throws Exception {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        String name = upload("start.png", img, false);
        assertEquals("start.png", name);
        assertEquals("start (1).png", upload("start.png", img, false));
        assertEquals("start.png", upload("start.png", img, true));
        String listed = ts.get("/object_info/LoadImage").json().at("/LoadImage/input/required/image/0").toString();
        assertTrue(listed.contains("\"start.png\"") && listed.contains("\"start (1).png\""), listed);
        ObjectNode g = ComfyWorkflows.img2img(graph(), "start.png", 0.5);
        try (WsClient c = ws("client-i2i")) {
            TestServer.Reply r = prompt(ComfyWorkflows.body(g, "client-i2i"));
            assertEquals(200, r.status(), new String(r.raw().body()));
            String id = r.json().get("prompt_id").asText();
            int max = -1;
            for (WsClient.Message m : untilDone(c, id)) {
                if (m.type().equals("progress")) {
                    max = m.json().at("/data/max").asInt();
                }
            }
            assertEquals(4, max, "ComfyUI runs steps steps at denoise 0.5 (of a schedule of steps / denoise)");
            assertEquals("success", ts.get("/history/" + id).json().at("/" + id + "/status/status_str").asText());
        }
        refused(x -> ComfyWorkflows.img2img(x, "missing.png", 0.5), "10", "image", "value_not_in_list");
        TestServer.Reply bad = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/upload/image"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}")));
        assertEquals(400, bad.status());
    }

    /** An upload's name and subfolder cannot leave the caller's inputs (ComfyUI's own traversal reports). */
    @Test
    void uploadNamesAndSubfoldersThatClimbAreRefused() throws Exception {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB), "png", png);
        String[][] cases = {{"../../x.png", ""}, {"..\\x.png", ""}, {"/etc/x.png", ""}, {"x.png", "a/../.."},
            {"x.png", ".."}, {"x.png", "/abs"}};
        for (String[] c : cases) {
            String boundary = "----climb" + System.nanoTime();
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\""
                    + c[0] + "\"\r\nContent-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            body.writeBytes(png.toByteArray());
            body.writeBytes(("\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"subfolder\"\r\n\r\n"
                    + c[1] + "\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
            TestServer.Reply r = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/upload/image"))
                    .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
            assertEquals(400, r.status(), c[0] + " in '" + c[1] + "': " + new String(r.raw().body()));
        }
    }

    @Test
    void aFailedJobIsAnExecutionError() throws Exception {
        ObjectNode g = graph();
        inputs(g, "6").put("text", "fail");
        try (WsClient c = ws("client-fail")) {
            String id = prompt(ComfyWorkflows.body(g, "client-fail")).json().get("prompt_id").asText();
            List<String> types = untilDone(c, id).stream().map(WsClient.Message::type).toList();
            assertTrue(types.contains("execution_error"), types.toString());
            assertFalse(types.contains("execution_success"), types.toString());
            JsonNode h = ts.get("/history/" + id).json().get(id);
            assertEquals("error", h.at("/status/status_str").asText());
            assertFalse(h.at("/status/completed").asBoolean());
            JsonNode err = null;
            for (JsonNode m : h.at("/status/messages")) {
                if (m.get(0).asText().equals("execution_error")) {
                    err = m.get(1);
                }
            }
            assertNotNull(err);
            assertEquals("3", err.get("node_id").asText());
            assertEquals("KSampler", err.get("node_type").asText());
            assertTrue(err.get("exception_message").asText().contains("NaN"), err.toString());
        }
    }

    @Test
    void interruptStopsTheRunningPrompt() throws Exception {
        try (TestServer own = new TestServer(0); WsClient c = new WsClient(own.http, "ws://127.0.0.1:"
                + own.server.port() + "/api/ws?clientId=client-int")) {
            ObjectNode g = graph();
            inputs(g, "6").put("text", "hold");
            String id = own.post("/api/prompt", ComfyWorkflows.body(g, "client-int")).json().get("prompt_id").asText();
            assertTrue(own.pipeline.awaitHold(5000));
            JsonNode queue = own.get("/queue").json();
            assertEquals(id, queue.at("/queue_running/0/1").asText(), queue.toString());
            assertEquals(200, own.post("/interrupt", "{\"prompt_id\":\"" + id + "\"}").status());
            own.pipeline.release();
            List<String> types = untilDoneOn(c, id).stream().map(WsClient.Message::type).toList();
            assertTrue(types.contains("execution_interrupted"), types.toString());
            assertEquals("error", own.get("/history/" + id).json().at("/" + id + "/status/status_str").asText());
        }
    }

    /**
     * A prompt sent without {@code client_id}: as ComfyUI, its {@code executing} and {@code progress} messages reach
     * every connection (a script waiting for {@code executing} with {@code node: null} sees it end), its
     * {@code executed} and {@code execution_success} none.
     */
    @Test
    void aPromptWithoutClientIdBroadcastsItsProgressAndEnd() throws Exception {
        try (WsClient watcher = ws("client-watcher")) {
            ObjectNode g = graph();
            inputs(g, "3").put("steps", 2);
            TestServer.Reply r = prompt(ComfyWorkflows.body(g, null));
            assertEquals(200, r.status(), () -> new String(r.raw().body()));
            String id = r.json().get("prompt_id").asText();
            List<String> types = untilDone(watcher, id).stream()
                    .filter(m -> id.equals(m.json().path("data").path("prompt_id").asText(null)))
                    .map(WsClient.Message::type).toList();
            assertTrue(types.contains("progress"), types.toString());
            assertFalse(types.contains("executed") || types.contains("execution_success"), types.toString());
        }
    }

    static List<WsClient.Message> untilDoneOn(WsClient c, String id) throws Exception {
        return untilDone(c, id);
    }

    @Test
    void previewMethodSendsComfyUiBinaryPreviewFrames() throws Exception {
        // steps of 30 ms: the job is attached to its prompt before its previews come
        try (TestServer slow = new TestServer(30)) {
            previews(slow);
        }
    }

    private static void previews(TestServer ts) throws Exception {
        java.util.concurrent.BlockingQueue<Object> got = new java.util.concurrent.LinkedBlockingQueue<>();
        java.net.http.WebSocket socket = ts.http.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:"
                + ts.server.port() + "/ws?clientId=client-preview"), new java.net.http.WebSocket.Listener() {
                    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                    private final StringBuilder text = new StringBuilder();

                    @Override
                    public java.util.concurrent.CompletionStage<?> onText(java.net.http.WebSocket ws,
                            CharSequence data, boolean last) {
                        text.append(data);
                        if (last) {
                            got.add(text.toString());
                            text.setLength(0);
                        }
                        ws.request(1);
                        return null;
                    }

                    @Override
                    public java.util.concurrent.CompletionStage<?> onBinary(java.net.http.WebSocket ws,
                            java.nio.ByteBuffer data, boolean last) {
                        byte[] b = new byte[data.remaining()];
                        data.get(b);
                        bytes.writeBytes(b);
                        if (last) {
                            got.add(bytes.toByteArray());
                            bytes.reset();
                        }
                        ws.request(1);
                        return null;
                    }
                }).get(5, java.util.concurrent.TimeUnit.SECONDS);
        try {
            ObjectNode b = (ObjectNode) TestServer.JSON.readTree(ComfyWorkflows.body(graph(), "client-preview"));
            b.putObject("extra_data").put("preview_method", "auto");
            String id = ts.post("/prompt", b.toString()).json().get("prompt_id").asText();
            int previews = 0;
            while (true) {
                Object m = got.poll(20, java.util.concurrent.TimeUnit.SECONDS);
                assertNotNull(m, "the prompt ended");
                if (m instanceof byte[] frame) {
                    java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(frame);
                    assertEquals(1, buf.getInt(), "PREVIEW_IMAGE");
                    assertEquals(1, buf.getInt(), "JPEG");
                    BufferedImage img = ImageIO.read(new ByteArrayInputStream(frame, 8, frame.length - 8));
                    assertNotNull(img, "a JPEG follows");
                    previews++;
                    continue;
                }
                JsonNode j = TestServer.JSON.readTree((String) m);
                if (j.path("type").asText().equals("executing") && j.at("/data/node").isNull()
                        && j.at("/data/prompt_id").asText().equals(id)) {
                    break;
                }
            }
            assertTrue(previews >= 1, "binary previews arrived");
            b.putObject("extra_data").put("preview_method", "fancy");
            TestServer.Reply bad = ts.post("/prompt", b.toString());
            assertEquals(400, bad.status());
            assertTrue(bad.json().at("/error/details").asText().contains("preview_method"));
        } finally {
            socket.abort();
        }
    }

    @Test
    void seedsCoverComfyUisRange() throws Exception {
        ObjectNode g = graph();
        inputs(g, "3").put("seed", new java.math.BigInteger("18446744073709551614"));
        inputs(g, "6").put("text", "a seed from the upper half");
        try (WsClient c = ws("client-seed")) {
            TestServer.Reply r = prompt(ComfyWorkflows.body(g, "client-seed"));
            assertEquals(200, r.status(), new String(r.raw().body()));
            untilDone(c, r.json().get("prompt_id").asText());
        }
        JsonNode job = ts.get("/v1/generations?limit=1").json().at("/generations/0");
        assertEquals("a seed from the upper half", job.at("/parameters/prompt").asText(), job.toString());
        assertEquals(Long.MAX_VALUE - 1, job.at("/parameters/seed").asLong(), "2^64 - 2 runs as 2^63 - 2: " + job);
        refused(x -> inputs(x, "3").put("seed", new java.math.BigInteger("18446744073709551616")), "3", "seed",
                "value_bigger_than_max");
        refused(x -> inputs(x, "3").put("seed", -1), "3", "seed", "value_smaller_than_min");
    }
}
