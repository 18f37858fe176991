package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** ComfyUI workflows in API format for the tests (node ids as ComfyUI's default workflow numbers them). */
final class ComfyWorkflows {

    private ComfyWorkflows() {
    }

    static ArrayNode link(String node, int output) {
        ArrayNode a = TestServer.JSON.createArrayNode();
        a.add(node);
        a.add(output);
        return a;
    }

    static ObjectNode node(ObjectNode graph, String id, String type) {
        ObjectNode n = graph.putObject(id);
        n.put("class_type", type);
        n.putObject("inputs");
        return (ObjectNode) n.get("inputs");
    }

    /**
     * ComfyUI's default text-to-image workflow ({@code script_examples/websockets_api_example.py}): 3 KSampler,
     * 4 CheckpointLoaderSimple, 5 EmptyLatentImage, 6/7 CLIPTextEncode, 8 VAEDecode, 9 SaveImage.
     */
    static ObjectNode defaultGraph(String ckpt, long seed, int steps, double cfg, String sampler, String scheduler,
            int width, int height, int batch, String positive, String negative) {
        ObjectNode g = TestServer.JSON.createObjectNode();
        ObjectNode k = node(g, "3", "KSampler");
        k.put("cfg", cfg);
        k.put("denoise", 1);
        k.set("latent_image", link("5", 0));
        k.set("model", link("4", 0));
        k.set("negative", link("7", 0));
        k.set("positive", link("6", 0));
        k.put("sampler_name", sampler);
        k.put("scheduler", scheduler);
        k.put("seed", seed);
        k.put("steps", steps);
        node(g, "4", "CheckpointLoaderSimple").put("ckpt_name", ckpt);
        ObjectNode e = node(g, "5", "EmptyLatentImage");
        e.put("batch_size", batch);
        e.put("height", height);
        e.put("width", width);
        ObjectNode p = node(g, "6", "CLIPTextEncode");
        p.set("clip", link("4", 1));
        p.put("text", positive);
        ObjectNode n = node(g, "7", "CLIPTextEncode");
        n.set("clip", link("4", 1));
        n.put("text", negative);
        ObjectNode d = node(g, "8", "VAEDecode");
        d.set("samples", link("3", 0));
        d.set("vae", link("4", 2));
        ObjectNode s = node(g, "9", "SaveImage");
        s.put("filename_prefix", "ComfyUI");
        s.set("images", link("8", 0));
        return g;
    }

    /** The default graph turned into image to image: 10 LoadImage, 11 VAEEncode as the sampler's latent. */
    static ObjectNode img2img(ObjectNode g, String image, double denoise) {
        ObjectNode load = node(g, "10", "LoadImage");
        load.put("image", image);
        ObjectNode enc = node(g, "11", "VAEEncode");
        enc.set("pixels", link("10", 0));
        enc.set("vae", link("4", 2));
        ObjectNode k = (ObjectNode) g.get("3").get("inputs");
        k.set("latent_image", link("11", 0));
        k.put("denoise", denoise);
        g.remove("5");
        return g;
    }

    static String body(ObjectNode graph, String clientId) {
        ObjectNode b = TestServer.JSON.createObjectNode();
        b.set("prompt", graph);
        if (clientId != null) {
            b.put("client_id", clientId);
        }
        return b.toString();
    }

    static ObjectNode inputs(ObjectNode graph, String id) {
        return (ObjectNode) graph.get(id).get("inputs");
    }
}
