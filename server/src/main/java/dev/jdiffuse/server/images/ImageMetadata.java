package dev.jdiffuse.server.images;

import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.jdiffuse.models.pipeline.HiresFix;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.server.jobs.GenerationParameters;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The PNG text of a generated image: {@code parameters} in AUTOMATIC1111's infotext format (readable by A1111's "PNG
 * Info", Civitai and most image browsers; {@code modules/processing.py create_infotext}), and {@code jdiffuse}, a JSON
 * record with everything needed to reproduce the image exactly ({@link GenerationParameters}: model SHA-256, sampler,
 * schedule, seed, RNG source; plus the sigmas visited and the image's batch index).
 */
public final class ImageMetadata {

    /** The server's version, written into every image it makes. */
    public static final String VERSION = "0.1.0";
    public static final String JSON_KEYWORD = "jdiffuse";
    public static final String A1111_KEYWORD = "parameters";

    private ImageMetadata() {
    }

    /** The JSON record: the job's parameters, flattened, with what is particular to this image. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Record(String generator, @JsonUnwrapped GenerationParameters parameters, int batchIndex,
            double[] sigmas) {
    }

    /** Both text chunks for image {@code index} of a batch. */
    public static Map<String, String> pngText(GenerationParameters p, double[] sigmas, int index,
            Function<Object, String> toJson) {
        String version = VERSION;
        Map<String, String> text = new LinkedHashMap<>();
        text.put(A1111_KEYWORD, infotext(p, index, version));
        text.put(JSON_KEYWORD, toJson.apply(new Record("jdiffuse " + version, p, index, sigmas)));
        return text;
    }

    /** The {@code parameters} text image {@code index} of a job with {@code p} carries (this server's version). */
    public static String infotext(GenerationParameters p, int index) {
        return infotext(p, index, VERSION);
    }

    static String infotext(GenerationParameters p, int index, String version) {
        StringBuilder sb = new StringBuilder(p.prompt());
        for (var lora : p.loras()) {
            // the prompt as AUTOMATIC1111 keeps it: pasting it back applies the same LoRAs
            sb.append(sb.length() == 0 ? "" : " ").append("<lora:").append(lora.name()).append(':')
                    .append(number(lora.scale())).append('>');
        }
        if (!p.negativePrompt().isEmpty()) {
            sb.append("\nNegative prompt: ").append(p.negativePrompt());
        }
        Map<String, String> kv = new LinkedHashMap<>();
        kv.put("Steps", Integer.toString(p.steps()));
        kv.put("Sampler", SamplerCatalog.samplerLabel(p.sampler()));
        kv.put("Schedule type", SamplerCatalog.scheduleLabel(p.schedule()));
        if (p.trueCfgScale() != null) {
            // FLUX, written as Forge does: its CFG scale is the true CFG, the embedded scale is "Distilled CFG Scale"
            kv.put("CFG scale", number(p.trueCfgScale()));
            kv.put("Distilled CFG Scale", number(p.guidanceScale()));
        } else {
            kv.put("CFG scale", number(p.guidanceScale()));
        }
        if (p.guidanceRescale() > 0) {
            kv.put("Guidance rescale", number(p.guidanceRescale()));
        }
        kv.put("Seed", Long.toString(p.seed()));
        if (p.subseedStrength() != null) {
            kv.put("Variation seed", Long.toString(p.subseed()));
            kv.put("Variation seed strength", number(p.subseedStrength()));
        }
        kv.put("Size", p.width() + "x" + p.height());
        if (p.strength() != null) {
            kv.put("Denoising strength", number(p.strength()));
        }
        if (p.maskBlur() != null) {
            kv.put("Mask blur", Integer.toString(p.maskBlur()));
        }
        if (Boolean.TRUE.equals(p.inpaintFullRes())) {
            kv.put("Inpaint area", "Only masked");
            kv.put("Masked area padding", Integer.toString(p.inpaintFullResPadding()));
        }
        if (p.outpaint() != null) {
            var o = p.outpaint();
            kv.put("Outpaint", "left " + o.left() + ", right " + o.right() + ", top " + o.top() + ", bottom "
                    + o.bottom());
        }
        if (p.hires() != null) {
            var h = p.hires();
            // A1111 writes Denoising strength for the hires pass (txt2img has no other) and Size as the base size
            kv.put("Denoising strength", number(h.strength()));
            if (h.scale() > 0) {
                kv.put("Hires upscale", number(h.scale()));
            } else {
                kv.put("Hires resize", h.width() + "x" + h.height());
            }
            if (h.steps() > 0) {
                kv.put("Hires steps", Integer.toString(h.steps()));
            }
            kv.put("Hires upscaler", HiresFix.a1111Name(h.upscaler()));
        }
        kv.put("Model hash", p.modelHash());
        kv.put("Model", p.model());
        if (p.clipSkip() != 1) {
            kv.put("Clip skip", Integer.toString(p.clipSkip()));
        }
        if (forcedLevelDrop(p)) {
            // as A1111's get_sigmas writes it when its always_discard_next_to_last_sigma setting dropped the level;
            // pasted back into A1111 it sets that setting again
            kv.put(A1111LevelDrop.INFOTEXT_KEY, "True");
        }
        if (p.batchSize() > 1) {
            kv.put("Batch size", Integer.toString(p.batchSize()));
            kv.put("Batch pos", Integer.toString(index));
        }
        if (p.classLabel() != null) {
            kv.put("Class label", Integer.toString(p.classLabel()));
        }
        for (int i = 0; i < p.controlnets().size(); i++) {
            var c = p.controlnets().get(i);
            kv.put("ControlNet " + i, "Model: " + c.model() + ", Weight: " + number(c.scale())
                    + ", Guidance Start: " + number(c.start()) + ", Guidance End: " + number(c.end()));
        }
        if (!p.loras().isEmpty()) {
            Map<String, String> hashes = new LinkedHashMap<>();
            // A1111's ExtraNetworkLora.activate: names without ':' and ',', one entry per name
            p.loras().forEach(l -> hashes.put(l.name().replace(":", "").replace(",", ""), l.hash()));
            List<String> entries = new ArrayList<>();
            hashes.forEach((name, hash) -> entries.add(name + ": " + hash));
            kv.put("Lora hashes", String.join(", ", entries));
        }
        if (p.embeddings() != null && !p.embeddings().isEmpty()) {
            // A1111's StableDiffusionModelHijack: "name: shorthash" per embedding used, names without ':' and ','
            List<String> entries = new ArrayList<>();
            p.embeddings().forEach(e -> entries.add(e.name().replace(":", "").replace(",", "") + ": " + e.hash()));
            kv.put("TI hashes", String.join(", ", entries));
        }
        kv.put("RNG", "CPU");
        kv.put("Version", "jdiffuse " + version);
        List<String> parts = new ArrayList<>();
        kv.forEach((k, v) -> parts.add(k + ": " + quote(v)));
        sb.append('\n').append(String.join(", ", parts));
        return sb.toString();
    }

    /**
     * Whether the job dropped the next-to-last level for a sampler A1111 runs on the whole schedule (only its
     * {@code always_discard_next_to_last_sigma} setting does that there; for DPM2, DPM2 a and DPM++ 3M SDE the drop
     * goes without saying).
     */
    public static boolean forcedLevelDrop(GenerationParameters p) {
        return Boolean.TRUE.equals(p.discardPenultimateSigma()) && !A1111LevelDrop.bySampler(p.sampler());
    }

    /**
     * A1111's {@code infotext_utils.quote}: a value with a comma, colon or newline becomes a JSON string
     * ({@code json.dumps}), every control character escaped.
     */
    static String quote(String v) {
        if (v.indexOf(',') < 0 && v.indexOf('\n') < 0 && v.indexOf(':') < 0) {
            return v;
        }
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(v)) + "\"";
    }

    /** 7.0 as "7", 7.5 as "7.5". */
    static String number(double v) {
        return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }
}
