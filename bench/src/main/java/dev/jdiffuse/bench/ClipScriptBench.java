package dev.jdiffuse.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTextOutput;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * {@code DenoiserBench clip_script}: a CLIP text encoder's op-by-op encoding ({@code encodeComposite}) against its
 * one-call TorchScript encoding ({@code encode}) on the same model (real architecture, random weights) and ids
 * [B, 77]. Per path it prints {@code host_ms} (host time to enqueue one encoding on an idle device), {@code step_ms}
 * (synchronised time per encoding) and the largest difference between the two paths' outputs (last hidden state,
 * penultimate hidden state, pooled, text_embeds) relative to the largest value of each.
 *
 * <p>Encoders ({@code -Dbench.clip.models}, default {@code clip_l,openclip_bigg}): {@code clip_l} (SD 1.x, SDXL's
 * and SD3's first), {@code openclip_h} (SD 2.x), {@code openclip_bigg} (SDXL's and SD3's second, with projection),
 * {@code tiny} (the fixtures' size, for a CPU); batches by {@code -Dbench.clip.batches} (default {@code 2,1}).
 */
final class ClipScriptBench {

    private ClipScriptBench() {
    }

    static void run(Device device, DataType dtype) {
        for (String model : System.getProperty("bench.clip.models", "clip_l,openclip_bigg").split(",")) {
            for (String batch : System.getProperty("bench.clip.batches", "2,1").split(",")) {
                scriptedVsComposite(device, dtype, model.trim(), Integer.parseInt(batch.trim()));
            }
        }
    }

    /** transformers' configs of the released text encoders (hidden, intermediate, heads, layers, act, projection). */
    static ClipTextConfig config(String model) {
        return switch (model) {
            case "clip_l" -> clip(768, 3072, 12, 12, "quick_gelu", 768, ClipTextConfig.TEXT_MODEL, 49407);
            case "openclip_h" -> clip(1024, 4096, 16, 23, "gelu", 1024, ClipTextConfig.TEXT_MODEL, 49407);
            case "openclip_bigg" -> clip(1280, 5120, 20, 32, "gelu", 1280, ClipTextConfig.WITH_PROJECTION, 0);
            case "tiny" -> clip(32, 37, 4, 5, "quick_gelu", 32, ClipTextConfig.TEXT_MODEL, 49407);
            default -> throw new IllegalArgumentException("unknown CLIP encoder " + model
                    + " (clip_l, openclip_h, openclip_bigg, tiny)");
        };
    }

    private static ClipTextConfig clip(int hidden, int inter, int heads, int layers, String act, int proj,
            String arch, int pad) {
        return new ClipTextConfig(hidden, inter, heads, layers, 77, 49408, act, 1e-5, proj, 49406, 49407, pad,
                List.of(arch));
    }

    static void scriptedVsComposite(Device device, DataType dtype, String model, int batch) {
        ClipTextConfig cfg = config(model);
        try (NDManager w = NDManager.newBaseManager(device)) {
            ClipTextModel clip = ClipTextModel.load(cfg, new RandomStateDict(new ClipTextModel(cfg), w, false), w,
                    dtype);
            NDArray ids = ids(w, cfg, batch);
            NDArray sync = w.zeros(new Shape(1));
            boolean scripted = clip.scriptedForward();
            Map<String, Function<NDArray, ClipTextOutput>> paths = new LinkedHashMap<>();
            paths.put("composite", clip::encodeComposite);
            paths.put("scripted", clip::encode);
            List<float[]> first = null;
            for (Map.Entry<String, Function<NDArray, ClipTextOutput>> p : paths.entrySet()) {
                List<float[]> out;
                try (NDManager m = w.newSubManager()) {
                    ids.tempAttach(m);
                    out = outputs(p.getValue().apply(ids));
                }
                double diff = 0;
                if (first == null) {
                    first = out;
                } else {
                    for (int k = 0; k < out.size(); k++) {
                        diff = Math.max(diff, relative(first.get(k), out.get(k)));
                    }
                }
                Supplier<NDArray> encode = () -> p.getValue().apply(ids).lastHiddenState();
                // the timers synchronise on their first input's sum read as a float: a float array, not the ids
                List<NDArray> inputs = List.of(sync, ids);
                DenoiserBench.Timing tm = DenoiserBench.time(w, 5, 30, inputs, encode);
                double host = DenoiserBench.enqueueOnce(w, inputs, encode);
                System.out.println(String.format(Locale.ROOT, "{\"model\":\"%s\",\"impl\":\"jdiffuse-%s\","
                        + "\"layers\":%d,\"batch\":%d,\"dtype\":\"%s\",\"host_ms\":%.3f,\"step_ms\":%.3f,"
                        + "\"host_submit_ms\":%.3f,\"max_diff_vs_composite\":%.3e,\"scripted_available\":%b}",
                        model.contains("clip") ? model : "clip_" + model,
                        p.getKey(), cfg.numHiddenLayers(), batch, dtype, host, tm.stepMs(), tm.submitMs(), diff,
                        scripted));
            }
        }
    }

    /** last hidden state, penultimate, pooled and (when projected) text_embeds, as float32 host arrays. */
    private static List<float[]> outputs(ClipTextOutput o) {
        List<float[]> l = new ArrayList<>();
        for (NDArray a : new NDArray[] {o.lastHiddenState(), o.penultimate(), o.pooled(), o.textEmbeds()}) {
            if (a != null) {
                l.add(a.toType(DataType.FLOAT32, false).toFloatArray());
            }
        }
        return l;
    }

    /** max |a - b| / max |a|. */
    static double relative(float[] a, float[] b) {
        double diff = 0;
        double ref = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            ref = Math.max(ref, Math.abs(a[i]));
        }
        return ref == 0 ? diff : diff / ref;
    }

    /** Rows as the tokenizer pads them: BOS, a prompt of 8 + 5b tokens, EOS, then the pad id; [B, 77] int64. */
    private static NDArray ids(NDManager m, ClipTextConfig c, int batch) {
        Random rnd = new Random(7);
        long[] flat = new long[batch * 77];
        for (int b = 0; b < batch; b++) {
            int end = Math.min(76, 9 + 5 * b);
            for (int i = 0; i < 77; i++) {
                flat[b * 77 + i] = i == 0 ? c.bosTokenId() : i < end ? 300 + rnd.nextInt(40000)
                        : i == end ? c.eosTokenId() : c.padTokenId();
            }
        }
        return m.create(flat, new Shape(batch, 77));
    }
}
