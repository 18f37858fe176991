package dev.jdiffuse.server.images;

import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.server.api.SamplerCatalog;
import dev.jdiffuse.server.api.ValidatedGeneration;
import dev.jdiffuse.server.models.LoadedModel;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The PNG text of a generated image: {@code parameters} in AUTOMATIC1111's infotext format (readable by A1111's "PNG
 * Info", Civitai and most image browsers; {@code modules/processing.py create_infotext}), and {@code jdiffuse}, a JSON
 * record with everything needed to reproduce the image exactly (model SHA-256, sampler, schedule, seed, RNG source,
 * the sigmas visited).
 */
public final class ImageMetadata {

    /** The noise source every pipeline uses: torch's CPU Mersenne-Twister normal stream, whatever the device. */
    public static final String RNG_SOURCE = "torch-cpu";
    public static final String JSON_KEYWORD = "jdiffuse";
    public static final String A1111_KEYWORD = "parameters";

    private ImageMetadata() {
    }

    /** Both text chunks for image {@code index} of a batch. */
    public static Map<String, String> pngText(LoadedModel model, GenerationRequest req, GenerationResult res,
            List<ValidatedGeneration.ControlRef> controls, int index, String version,
            java.util.function.Function<Object, String> toJson) {
        Map<String, String> text = new LinkedHashMap<>();
        text.put(A1111_KEYWORD, infotext(model, req, res, controls, index, version));
        text.put(JSON_KEYWORD, toJson.apply(record(model, req, res, controls, index, version)));
        return text;
    }

    static String infotext(LoadedModel model, GenerationRequest req, GenerationResult res,
            List<ValidatedGeneration.ControlRef> controls, int index, String version) {
        StringBuilder sb = new StringBuilder(req.prompt());
        if (!req.negativePrompt().isEmpty()) {
            sb.append("\nNegative prompt: ").append(req.negativePrompt());
        }
        Map<String, String> kv = new LinkedHashMap<>();
        kv.put("Steps", Integer.toString(req.steps()));
        kv.put("Sampler", SamplerCatalog.samplerLabel(res.sampler()));
        kv.put("Schedule type", SamplerCatalog.scheduleLabel(res.schedule()));
        kv.put("CFG scale", number(req.guidanceScale()));
        if (req.guidanceRescale() > 0) {
            kv.put("Guidance rescale", number(req.guidanceRescale()));
        }
        kv.put("Seed", Long.toString(res.seed()));
        kv.put("Size", req.width() + "x" + req.height());
        kv.put("Model hash", model.shortHash());
        kv.put("Model", model.name());
        if (req.batchSize() > 1) {
            kv.put("Batch size", Integer.toString(req.batchSize()));
            kv.put("Batch pos", Integer.toString(index));
        }
        if (req.classLabel() != null) {
            kv.put("Class label", Integer.toString(req.classLabel()));
        }
        for (int i = 0; i < controls.size(); i++) {
            var c = controls.get(i);
            kv.put("ControlNet " + i, "Model: " + c.model() + ", Weight: " + number(c.scale())
                    + ", Guidance Start: " + number(c.start()) + ", Guidance End: " + number(c.end()));
        }
        kv.put("RNG", "CPU");
        kv.put("Version", "jdiffuse " + version);
        List<String> parts = new ArrayList<>();
        kv.forEach((k, v) -> parts.add(k + ": " + quote(v)));
        sb.append('\n').append(String.join(", ", parts));
        return sb.toString();
    }

    /** A1111's {@code infotext_utils.quote}: values with a comma, colon or newline are JSON-quoted. */
    static String quote(String v) {
        if (v.indexOf(',') < 0 && v.indexOf('\n') < 0 && v.indexOf(':') < 0) {
            return v;
        }
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : v.toCharArray()) {
            switch (ch) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> sb.append(ch);
            }
        }
        return sb.append('"').toString();
    }

    /** 7.0 as "7", 7.5 as "7.5". */
    static String number(double v) {
        return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }

    static Map<String, Object> record(LoadedModel model, GenerationRequest req, GenerationResult res,
            List<ValidatedGeneration.ControlRef> controls, int index, String version) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("generator", "jdiffuse " + version);
        m.put("model", model.name());
        m.put("model_family", model.pipeline().family());
        m.put("model_sha256", model.sha256());
        m.put("prompt", req.prompt());
        m.put("negative_prompt", req.negativePrompt());
        m.put("width", req.width());
        m.put("height", req.height());
        m.put("steps", req.steps());
        m.put("sampler", res.sampler());
        m.put("schedule", res.schedule());
        m.put("guidance_scale", req.guidanceScale());
        m.put("guidance_rescale", req.guidanceRescale());
        m.put("seed", res.seed());
        m.put("rng", RNG_SOURCE);
        m.put("batch_size", req.batchSize());
        m.put("batch_index", index);
        m.put("class_label", req.classLabel());
        List<Map<String, Object>> cn = new ArrayList<>();
        for (var c : controls) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("model", c.model());
            e.put("scale", c.scale());
            e.put("start", c.start());
            e.put("end", c.end());
            cn.add(e);
        }
        m.put("controlnets", cn);
        m.put("sigmas", res.sigmas());
        return m;
    }
}
