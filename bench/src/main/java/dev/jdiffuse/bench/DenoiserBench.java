package dev.jdiffuse.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.dit.DiTConfig;
import dev.jdiffuse.models.pipeline.sd.SdConditioning;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.models.sd3.SD3Transformer2DModel;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.unet.ControlNetConfig;
import dev.jdiffuse.models.unet.ControlNetModel;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.unet.UNetExtras;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.samplers.ClassifierFreeGuidance;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;
import dev.jdiffuse.samplers.prediction.PredictionType;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.schedulers.SchedulerConfig;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerOptions;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Step times of the denoisers with real architectures and random weights, on the GPU in float16, printed as JSON
 * lines in the format of {@code diffusers_baseline.py} so both can be read side by side from one run. Also checks
 * that the SD 1.5 UNet in float16 on the GPU agrees with the same weights in float32 on the CPU.
 *
 * <p>Usage: {@code java -cp ... dev.jdiffuse.bench.DenoiserBench [sd15] [sd15_check] [sd15_sampler] [vae]
 * [dit] [sd3] [flux] [unet_script] [vae_script] [clip_script]}. {@code unet_script} times the UNet's op-by-op forward against its one-call TorchScript
 * forward (SD 1.5 at 512 and SDXL at 1024, batches 2 and 16; {@code -Dbench.models=sd15,sdxl},
 * {@code -Dbench.batches=2,16}, {@code -Dbench.latent=N} for an N x N latent instead), see docs/perf/scripted-unet.md.
 * {@code vae_script} does the same for SD's VAE decoder (64x64 latent to a 512x512 image, batches 1 and 16;
 * {@code -Dbench.vae.batches=1,16}, {@code -Dbench.latent=N}), see docs/perf/scripted-vae.md.
 * {@code clip_script} does the same for the CLIP text encoders ({@link ClipScriptBench}, docs/perf/scripted-clip.md).
 * {@code controlnet_script} does the same for an SD 1.5 ControlNet (diffusers' ControlNetModel with SD 1.5's text
 * width; {@code -Dbench.batches}, {@code -Dbench.latent}). {@code controlnet_graph} times a ControlNet-conditioned
 * SD 1.5 step with CUDA graphs off and on ({@link #controlledUNetGraph}); {@code graph_patched} checks that patched
 * weights do not replay the graph of the loaded ones ({@link #patchedWeightsSkipTheGraph}).
 */
public final class DenoiserBench {

    private static final ObjectMapper JSON = new ObjectMapper();

    private DenoiserBench() {
    }

    public static void main(String[] args) throws Exception {
        List<String> which = args.length == 0 ? List.of("sd15_check", "sd15", "sd15_sampler", "vae", "dit", "sd3")
                : List.of(args);
        // as every thread of the server that runs a model: autograd off (PyTorch keeps it per thread). Without it the
        // bench timed autograd's bookkeeping too: the SD 1.5 UNet's batch-2 forward took 17.98 ms here against 13.06
        // ms for the same script called from Python under no_grad (H200, session 8 runs A and B)
        Device gpu = Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        dev.jdiffuse.models.nn.InferenceThreads.prepare();
        DataType half = gpu.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
        System.err.println("device " + gpu + ", engine " + Engine.getInstance().getVersion());
        if (which.contains("sd15_check")) {
            sd15Check(gpu);
        }
        if (which.contains("sd15")) {
            for (int batch : new int[] {2, 1}) {
                unetCase(gpu, half, batch);
            }
        }
        if (which.contains("sd15_sampler")) {
            samplerLoop(gpu, half);
        }
        if (which.contains("vae")) {
            vaeCase(gpu, half, 512);
        }
        if (which.contains("dit")) {
            ditCase(gpu, half, 2);
        }
        if (which.contains("sd3")) {
            sd3Case(gpu, half, 2);
        }
        if (which.contains("flux")) {
            fluxCase(gpu, half);
        }
        if (which.contains("clip_script")) {
            ClipScriptBench.run(gpu, half);
        }
        if (which.contains("unet_script")) {
            for (String model : System.getProperty("bench.models", "sd15,sdxl").split(",")) {
                for (String batch : System.getProperty("bench.batches", "2,16").split(",")) {
                    scriptedVsComposite(gpu, half, model.trim(), Integer.parseInt(batch.trim()));
                }
            }
        }
        if (which.contains("controlnet_script")) {
            for (String batch : System.getProperty("bench.batches", "2,16").split(",")) {
                controlNetScriptedVsComposite(gpu, half, Integer.parseInt(batch.trim()));
            }
        }
        if (which.contains("graph_patched")) {
            patchedWeightsSkipTheGraph(gpu, half);
        }
        if (which.contains("controlnet_graph")) {
            for (String batch : System.getProperty("bench.batches", "2").split(",")) {
                controlledUNetGraph(gpu, half, Integer.parseInt(batch.trim()));
            }
        }
        if (which.contains("vae_script")) {
            System.setProperty("jdiffuse.scripted.vae", "true"); // the scripted VAE is opt-in; this case compares it
            for (String batch : System.getProperty("bench.vae.batches", "1,16").split(",")) {
                int latent = Integer.getInteger("bench.latent", 64);
                vaeScriptedVsComposite(gpu, half, latent, Integer.parseInt(batch.trim()));
            }
        }
    }

    /** SDXL base's UNet config (diffusers' stabilityai/stable-diffusion-xl-base-1.0 unet/config.json). */
    static UNet2DConditionConfig sdxlConfig() {
        com.fasterxml.jackson.databind.node.ObjectNode c = JSON.createObjectNode().put("sample_size", 128)
                .put("cross_attention_dim", 2048).put("use_linear_projection", true)
                .put("addition_embed_type", "text_time").put("addition_time_embed_dim", 256)
                .put("projection_class_embeddings_input_dim", 2816);
        c.set("attention_head_dim", JSON.valueToTree(new int[] {5, 10, 20}));
        c.set("block_out_channels", JSON.valueToTree(new int[] {320, 640, 1280}));
        c.set("transformer_layers_per_block", JSON.valueToTree(new int[] {1, 2, 10}));
        c.set("down_block_types", JSON.valueToTree(List.of("DownBlock2D", "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D")));
        c.set("up_block_types", JSON.valueToTree(List.of("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")));
        return UNet2DConditionConfig.from(ConfigJson.of("sdxl base (diffusers config)", c));
    }

    private static <T> T withGraphs(boolean on, Supplier<T> forward) {
        dev.jdiffuse.models.nn.CudaGraphs.setEnabled(on);
        try {
            return forward.get();
        } finally {
            dev.jdiffuse.models.nn.CudaGraphs.setEnabled(true);
        }
    }

    /**
     * The UNet's forwards on the same model and inputs: {@code composite} (op by op through DJL's JNI),
     * {@code scripted} (one TorchScript call) and {@code graph} (that call replayed as a CUDA graph, where
     * {@link dev.jdiffuse.models.nn.CudaGraphs} is on). Prints, per path, the host time to enqueue one forward on an
     * idle device ({@code host_ms}: what issue 13 item 4 asks to bring under the GPU time), the synchronised step time,
     * and the largest difference from the first path's output relative to its largest value.
     */
    static void scriptedVsComposite(Device gpu, DataType dtype, String model, int batch) {
        boolean xl = "sdxl".equals(model);
        UNet2DConditionConfig cfg = xl ? sdxlConfig() : sd15Config();
        int latent = Integer.getInteger("bench.latent", xl ? 128 : 64);
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(cfg,
                    new RandomStateDict(new UNet2DConditionModel(cfg), w, false), w, dtype, model);
            NDArray x = w.randomNormal(new Shape(batch, 4, latent, latent)).toType(dtype, false);
            dev.jdiffuse.models.unet.TextContext ctx = dev.jdiffuse.models.unet.TextContext.of(
                    w.randomNormal(new Shape(batch, 77, cfg.crossAttentionDim().get(0))).toType(dtype, false));
            UNetExtras extras = UNetExtras.NONE;
            if (xl) {
                float[] ids = new float[batch * 6];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = i % 6 == 2 || i % 6 == 3 ? 0 : latent * 8;
                }
                extras = UNetExtras.sdxl(w.randomNormal(new Shape(batch, 1280)).toType(dtype, false),
                        w.create(ids, new Shape(batch, 6)));
            }
            double[] t = new double[batch];
            for (int i = 0; i < batch; i++) {
                t[i] = 999 - 40 * i % 1000;
            }
            UNetExtras e = extras;
            Map<String, Supplier<NDArray>> paths = new java.util.LinkedHashMap<>();
            paths.put("composite", () -> unet.forwardComposite(x, t, ctx, e));
            boolean graphs = dev.jdiffuse.models.nn.CudaGraphs.available();
            paths.put("scripted", () -> withGraphs(false, () -> unet.forward(x, t, ctx, e)));
            if (graphs) { // -Djdiffuse.cudaGraphs=libjdiffuse_cudagraphs.so: the same script replayed as a CUDA graph
                paths.put("graph", () -> withGraphs(true, () -> unet.forward(x, t, ctx, e)));
            }
            boolean scripted = unet.scriptedForward();
            comparePaths(w, x, paths, 5, batch > 4 ? 10 : 30, (impl, host, tm, diff) -> print(
                    "{\"model\":\"unet_%s\",\"impl\":\"jdiffuse-%s\",\"latent\":%d,\"batch\":%d,"
                    + "\"dtype\":\"%s\",\"host_ms\":%.3f,\"step_ms\":%.3f,\"host_submit_ms\":%.3f,"
                    + "\"max_diff_vs_composite\":%.3e,\"scripted_available\":%b}", model, impl, latent, batch, dtype,
                    host, tm.stepMs, tm.submitMs, diff, scripted));
        }
    }

    /**
     * An SD 1.5 ControlNet's two forwards (op by op, one TorchScript call) on the same model and inputs, printed as
     * {@code unet_script} prints the UNet's; the compared output is the mid-block residual (it depends on every layer
     * but the down residuals' zero convolutions).
     */
    static void controlNetScriptedVsComposite(Device gpu, DataType dtype, int batch) {
        int latent = Integer.getInteger("bench.latent", 64);
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            ControlNetModel controlnet = sd15ControlNet(w, dtype);
            ControlledInputs in = ControlledInputs.random(w, dtype, batch, latent);
            NDArray x = in.x();
            Map<String, Supplier<NDArray>> paths = new java.util.LinkedHashMap<>();
            paths.put("composite", () -> controlnet.forwardComposite(x, in.t(), in.ctx(), in.cond(), 1f,
                    UNetExtras.NONE).mid());
            paths.put("scripted", () -> controlnet.forward(x, in.t(), in.ctx(), in.cond(), 1f, UNetExtras.NONE)
                    .mid());
            boolean scripted = controlnet.scriptedForward();
            comparePaths(w, x, paths, 5, batch > 4 ? 10 : 30, (impl, host, tm, diff) -> print(
                    "{\"model\":\"controlnet_sd15\",\"impl\":\"jdiffuse-%s\",\"latent\":%d,\"batch\":%d,"
                    + "\"dtype\":\"%s\",\"host_ms\":%.3f,\"step_ms\":%.3f,\"host_submit_ms\":%.3f,"
                    + "\"max_diff_vs_composite\":%.3e,\"scripted_available\":%b}", impl, latent, batch, dtype, host,
                    tm.stepMs, tm.submitMs, diff, scripted));
        }
    }

    /**
     * One ControlNet-conditioned SD 1.5 step (the ControlNet's scripted forward, then the UNet's with its residuals):
     * {@code scripted} with CUDA graphs off, {@code graph} with them on (the UNet's forward, residuals included, as a
     * graph replay; the ControlNet's script stays a call); the compared output is the UNet's.
     */
    static void controlledUNetGraph(Device gpu, DataType dtype, int batch) {
        UNet2DConditionConfig ucfg = sd15Config();
        int latent = Integer.getInteger("bench.latent", 64);
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            ControlNetModel controlnet = sd15ControlNet(w, dtype);
            UNet2DConditionModel unet = UNet2DConditionModel.load(ucfg,
                    new RandomStateDict(new UNet2DConditionModel(ucfg), w, false), w, dtype, "sd15");
            ControlledInputs in = ControlledInputs.random(w, dtype, batch, latent);
            NDArray x = in.x();
            Supplier<NDArray> step = () -> {
                dev.jdiffuse.models.unet.ControlNetOutput c = controlnet.forward(x, in.t(), in.ctx(), in.cond(), 1f,
                        UNetExtras.NONE);
                return unet.forward(x, in.t(), in.ctx(), UNetExtras.NONE.withControl(c.down(), c.mid()));
            };
            Map<String, Supplier<NDArray>> paths = new java.util.LinkedHashMap<>();
            paths.put("scripted", () -> withGraphs(false, step));
            paths.put("graph", () -> withGraphs(true, step));
            comparePaths(w, x, paths, 5, 30, (impl, host, tm, diff) -> print(
                    "{\"model\":\"controlnet_unet_sd15\",\"impl\":\"jdiffuse-%s\",\"latent\":%d,\"batch\":%d,"
                    + "\"dtype\":\"%s\",\"host_ms\":%.3f,\"step_ms\":%.3f,\"host_submit_ms\":%.3f,"
                    + "\"max_diff_vs_scripted\":%.3e,\"graphs\":%b}", impl, latent, batch, dtype, host, tm.stepMs,
                    tm.submitMs, diff, dev.jdiffuse.models.nn.CudaGraphs.available()));
        }
    }

    /**
     * A LoRA-style patch (a parameter's array swapped for another, as {@code LoraPatcher} does) must not replay the
     * graph captured with the loaded weights: SD 1.5 UNet at 2 rows, the forward with graphs on before the patch, while
     * patched (against the same patched forward with graphs off) and after the base is put back (against the first).
     */
    static void patchedWeightsSkipTheGraph(Device gpu, DataType dtype) {
        UNet2DConditionConfig cfg = sd15Config();
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(cfg,
                    new RandomStateDict(new UNet2DConditionModel(cfg), w, false), w, dtype, "sd15");
            NDArray x = w.randomNormal(new Shape(2, 4, 64, 64)).toType(dtype, false);
            dev.jdiffuse.models.unet.TextContext ctx = dev.jdiffuse.models.unet.TextContext.of(
                    w.randomNormal(new Shape(2, 77, 768)).toType(dtype, false));
            double[] t = {999, 999};
            Supplier<float[]> forward = () -> unet.forward(x, t, ctx, UNetExtras.NONE)
                    .toType(DataType.FLOAT32, false).toFloatArray();
            float[] graphed = withGraphs(true, forward);
            graphed = withGraphs(true, forward); // a replay, not the capture's first run
            dev.jdiffuse.models.nn.Parameter p = unet.namedParameters().get("conv_in.weight");
            NDArray base = p.replace(p.get().mul(1.5f));
            float[] patchedGraphsOn = withGraphs(true, forward);
            float[] patchedGraphsOff = withGraphs(false, forward);
            p.replace(base);
            float[] restored = withGraphs(true, forward);
            print("{\"check\":\"patched weights skip the graph\",\"patched_on_vs_off\":%.3e,"
                    + "\"patched_vs_loaded\":%.3e,\"restored_vs_loaded\":%.3e,\"graphs\":%b}",
                    ClipScriptBench.relative(patchedGraphsOff, patchedGraphsOn),
                    ClipScriptBench.relative(graphed, patchedGraphsOn), ClipScriptBench.relative(graphed, restored),
                    dev.jdiffuse.models.nn.CudaGraphs.available());
        }
    }

    /** diffusers' ControlNetModel with SD 1.5's text width, random weights, in {@code w}. */
    private static ControlNetModel sd15ControlNet(NDManager w, DataType dtype) {
        ControlNetConfig cfg = ControlNetConfig.from(ConfigJson.of("sd15 controlnet (diffusers defaults)",
                JSON.createObjectNode().put("cross_attention_dim", 768).put("attention_head_dim", 8)));
        return ControlNetModel.load(cfg, new RandomStateDict(new ControlNetModel(cfg), w, false), w, dtype,
                "sd15 controlnet");
    }

    /** A ControlNet step's inputs: latents [B, 4, h, w], control image [B, 3, 8h, 8w], text [B, 77, 768], timesteps. */
    private record ControlledInputs(NDArray x, NDArray cond, dev.jdiffuse.models.unet.TextContext ctx, double[] t) {
        static ControlledInputs random(NDManager w, DataType dtype, int batch, int latent) {
            double[] t = new double[batch];
            for (int i = 0; i < batch; i++) {
                t[i] = 999 - 40 * i % 1000;
            }
            return new ControlledInputs(w.randomNormal(new Shape(batch, 4, latent, latent)).toType(dtype, false),
                    w.randomUniform(0, 1, new Shape(batch, 3, latent * 8, latent * 8)).toType(dtype, false),
                    dev.jdiffuse.models.unet.TextContext.of(w.randomNormal(new Shape(batch, 77, 768))
                            .toType(dtype, false)), t);
        }
    }

    /** What {@link #comparePaths} prints for one path. */
    @FunctionalInterface
    interface PathLine {
        void print(String impl, double hostMs, Timing timing, double relativeDiff);
    }

    /**
     * Runs each of a model's paths (op by op, scripted) on the same input: the largest difference of its output from
     * the first path's, relative to that output's largest value, the synchronised step time over {@code n} calls
     * after {@code warm}, and the host time to enqueue one call.
     */
    static void comparePaths(NDManager w, NDArray input, Map<String, Supplier<NDArray>> paths, int warm, int n,
            PathLine line) {
        float[] first = null;
        for (Map.Entry<String, Supplier<NDArray>> p : paths.entrySet()) {
            float[] out;
            try (NDManager m = w.newSubManager()) {
                input.tempAttach(m);
                out = p.getValue().get().toType(DataType.FLOAT32, false).toFloatArray();
            }
            double diff = 0;
            double ref = 0;
            if (first == null) {
                first = out;
            } else {
                for (int i = 0; i < out.length; i++) {
                    diff = Math.max(diff, Math.abs(out[i] - first[i]));
                    ref = Math.max(ref, Math.abs(first[i]));
                }
            }
            Timing tm = time(w, warm, n, List.of(input), p.getValue());
            double host = enqueueOnce(w, List.of(input), p.getValue());
            line.print(p.getKey(), host, tm, ref == 0 ? 0 : diff / ref);
        }
    }

    static UNet2DConditionConfig sd15Config() {
        return UNet2DConditionConfig.from(ConfigJson.of("sd15 (diffusers defaults)",
                JSON.createObjectNode().put("sample_size", 64).put("cross_attention_dim", 768)
                        .put("attention_head_dim", 8)));
    }

    /** float16 on the GPU vs float32 on the CPU, identical weights and inputs. */
    static void sd15Check(Device gpu) {
        UNet2DConditionConfig cfg = sd15Config();
        try (NDManager host = NDManager.newBaseManager(Device.cpu());
                NDManager wg = NDManager.newBaseManager(gpu);
                NDManager wc = NDManager.newBaseManager(Device.cpu())) {
            RandomStateDict sd = new RandomStateDict(new UNet2DConditionModel(cfg), host, true);
            UNet2DConditionModel fp16 = UNet2DConditionModel.load(cfg, sd, wg, DataType.FLOAT16, "sd15 fp16");
            UNet2DConditionModel fp32 = UNet2DConditionModel.load(cfg, sd, wc, DataType.FLOAT32, "sd15 fp32");
            TorchCpuNoise noise = new TorchCpuNoise(0);
            NDArray x = noise.normal(host, new Shape(2, 4, 64, 64));
            NDArray ctx = noise.normal(host, new Shape(2, 77, 768));
            double[] t = {999, 250};
            long t0 = System.nanoTime();
            float[] ref = fp32.forward(x, t, ctx, UNetExtras.NONE).toFloatArray();
            long cpuMs = (System.nanoTime() - t0) / 1_000_000;
            float[] got;
            try (NDManager step = wg.newSubManager()) {
                got = fp16.forward(x.toDevice(gpu, true).toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false),
                        t, ctx.toDevice(gpu, true), UNetExtras.NONE).toType(DataType.FLOAT32, false).toFloatArray();
            }
            double maxRef = 0;
            double maxDiff = 0;
            double sumSq = 0;
            double refSq = 0;
            for (int i = 0; i < ref.length; i++) {
                maxRef = Math.max(maxRef, Math.abs(ref[i]));
                maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
                sumSq += (ref[i] - got[i]) * (double) (ref[i] - got[i]);
                refSq += ref[i] * (double) ref[i];
            }
            print("{\"check\":\"unet_sd15 fp16 gpu vs fp32 cpu\",\"res\":512,\"batch\":2,"
                    + "\"max_abs_diff_over_max_ref\":%.3e,\"rel_l2\":%.3e,\"fp16_eps\":%.3e,\"cpu_fp32_forward_ms\":%d}",
                    maxDiff / maxRef, Math.sqrt(sumSq / refSq), Math.ulp(1.0f) * 8192.0, cpuMs);
        }
    }

    static void unetCase(Device gpu, DataType dtype, int batch) {
        UNet2DConditionConfig cfg = sd15Config();
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(cfg,
                    new RandomStateDict(new UNet2DConditionModel(cfg), w, false), w, dtype, "sd15");
            NDArray x = w.randomNormal(new Shape(batch, 4, 64, 64)).toType(dtype, false);
            NDArray ctx = w.randomNormal(new Shape(batch, 77, 768)).toType(dtype, false);
            Timing tm = time(w, 5, 30, List.of(x, ctx), () -> unet.forward(x, new double[] {500}, ctx, UNetExtras.NONE));
            double enqueue = enqueueOnce(w, List.of(x, ctx), () -> unet.forward(x, new double[] {500}, ctx,
                    UNetExtras.NONE));
            int ops;
            try (NDManager m = w.newSubManager()) {
                x.tempAttach(m);
                ctx.tempAttach(m);
                unet.forward(x, new double[] {500}, ctx, UNetExtras.NONE);
                ops = m.getManagedArrays().size();
            }
            print("{\"model\":\"unet_sd15\",\"impl\":\"jdiffuse\",\"res\":512,\"batch\":%d,"
                    + "\"single_forward_enqueue_ms\":%.3f,\"arrays_alive_after_forward\":%d}", batch, enqueue, ops);
            print("{\"model\":\"unet_sd15\",\"impl\":\"jdiffuse\",\"res\":512,\"batch\":%d,\"dtype\":\"%s\","
                    + "\"step_ms\":%.3f,\"host_submit_ms\":%.3f,\"params_m\":%.1f,\"it_per_s\":%.2f}", batch, dtype,
                    tm.stepMs, tm.submitMs, unet.parameterCount() / 1e6, 1000 / tm.stepMs);
        }
    }

    /**
     * A whole 25-step sampling loop through the Denoiser stack (epsilon adapter, CFG batch of 2, DPM-Solver++ 2M with
     * Karras sigmas): UNet time plus everything the Java side adds per step.
     */
    static void samplerLoop(Device gpu, DataType dtype) {
        UNet2DConditionConfig cfg = sd15Config();
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(cfg,
                    new RandomStateDict(new UNet2DConditionModel(cfg), w, false), w, dtype, "sd15");
            NDArray ctx = w.randomNormal(new Shape(1, 77, 768)).toType(dtype, false);
            NDArray unctx = w.randomNormal(new Shape(1, 77, 768)).toType(dtype, false);
            Denoiser d = new ClassifierFreeGuidance(PredictionType.EPSILON.wrap((xin, t, c) ->
                    unet.forward(xin, new double[] {t}, ((SdConditioning) c).context(), UNetExtras.NONE)
                            .toType(DataType.FLOAT32, false)), new SdConditioning(unctx, null, null), 7.5, 0);
            SchedulerConfig sc = SchedulerConfig.of(Map.of("_class_name", "DPMSolverMultistepScheduler",
                    "beta_start", 0.00085, "beta_end", 0.012, "beta_schedule", "scaled_linear",
                    "use_karras_sigmas", true), null);
            SamplingSchedule schedule = DiffusersSchedules.of(sc, 25);
            var sampler = SamplerCatalog.sampler("dpmpp_2m").orElseThrow().create(SamplerOptions.of(sc));
            List<Double> runs = new ArrayList<>();
            for (int r = 0; r < 4; r++) {
                try (NDManager job = w.newSubManager()) {
                    TorchCpuNoise noise = new TorchCpuNoise(r);
                    NDArray x = noise.normal(job, new Shape(1, 4, 64, 64)).mul((float) schedule.initNoiseSigma());
                    long t0 = System.nanoTime();
                    NDArray out = sampler.sample(d, x, schedule, new SdConditioning(ctx, null, null), noise,
                            StepListener.NONE);
                    out.sum().getFloat();
                    runs.add((System.nanoTime() - t0) / 1e6);
                }
            }
            double best = runs.subList(1, runs.size()).stream().mapToDouble(Double::doubleValue).min().orElse(0);
            print("{\"model\":\"sd15_sampling_loop\",\"impl\":\"jdiffuse\",\"res\":512,\"steps\":25,"
                    + "\"sampler\":\"dpmpp_2m karras\",\"cfg_batch\":2,\"dtype\":\"%s\",\"total_ms\":%.1f,"
                    + "\"per_step_ms\":%.3f,\"it_per_s\":%.2f}", dtype, best, best / 25, 25000 / best);
        }
    }

    /** SD 1.x/2.x's VAE (diffusers' AutoencoderKL defaults with SD's widths) for {@code res} x {@code res} images. */
    static AutoencoderKLConfig sdVaeConfig(int res) {
        return AutoencoderKLConfig.read(ConfigJson.of("sd vae", JSON.createObjectNode()
                .put("latent_channels", 4).put("layers_per_block", 2).put("sample_size", res)
                .<com.fasterxml.jackson.databind.node.ObjectNode>set("block_out_channels",
                        JSON.valueToTree(new int[] {128, 256, 512, 512}))
                .<com.fasterxml.jackson.databind.node.ObjectNode>set("down_block_types", JSON.valueToTree(
                        java.util.Collections.nCopies(4, "DownEncoderBlock2D")))
                .set("up_block_types", JSON.valueToTree(java.util.Collections.nCopies(4, "UpDecoderBlock2D")))));
    }

    static void vaeCase(Device gpu, DataType dtype, int res) {
        AutoencoderKLConfig cfg = sdVaeConfig(res);
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            AutoencoderKL vae = AutoencoderKL.load(cfg, new RandomStateDict(AutoencoderKL.unloaded(cfg), w, false), w, dtype);
            NDArray z = w.randomNormal(new Shape(1, 4, res / 8, res / 8)).toType(dtype, false);
            Timing tm = time(w, 3, 10, List.of(z), () -> vae.decode(z));
            print("{\"model\":\"vae_decode_sd\",\"impl\":\"jdiffuse\",\"res\":%d,\"batch\":1,\"dtype\":\"%s\","
                    + "\"step_ms\":%.3f,\"host_submit_ms\":%.3f}", res, dtype, tm.stepMs, tm.submitMs);
        }
    }

    /**
     * SD's VAE decoder both ways on the same model and latents [batch, 4, latent, latent]: {@code composite} (op by
     * op, {@link AutoencoderKL#decodeComposite}) and {@code scripted} (one TorchScript call,
     * {@link AutoencoderKL#decode}).
     * Prints per path {@code host_ms}, {@code step_ms} and {@code host_submit_ms} as {@code unet_script} does, and the
     * largest difference between the two images relative to the largest value.
     */
    static void vaeScriptedVsComposite(Device gpu, DataType dtype, int latent, int batch) {
        AutoencoderKLConfig cfg = sdVaeConfig(latent * 8);
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            AutoencoderKL vae = AutoencoderKL.load(cfg, new RandomStateDict(AutoencoderKL.unloaded(cfg), w, false), w,
                    dtype);
            NDArray z = w.randomNormal(new Shape(batch, 4, latent, latent)).toType(dtype, false);
            Map<String, Supplier<NDArray>> paths = new java.util.LinkedHashMap<>();
            paths.put("composite", () -> vae.decodeComposite(z));
            paths.put("scripted", () -> vae.decode(z));
            boolean scripted = vae.scripted();
            comparePaths(w, z, paths, 3, batch > 4 ? 5 : 20, (impl, host, tm, diff) -> print(
                    "{\"model\":\"vae_decode_sd\",\"impl\":\"jdiffuse-%s\",\"latent\":%d,\"res\":%d,"
                    + "\"batch\":%d,\"dtype\":\"%s\",\"host_ms\":%.3f,\"step_ms\":%.3f,\"host_submit_ms\":%.3f,"
                    + "\"max_diff_vs_composite\":%.3e,\"scripted_available\":%b}", impl, latent, latent * 8, batch,
                    dtype, host, tm.stepMs, tm.submitMs, diff, scripted));
        }
    }

    static void ditCase(Device gpu, DataType dtype, int batch) {
        DiTConfig cfg = DiTConfig.from(ConfigJson.of("DiT-XL/2", JSON.createObjectNode()
                .put("num_attention_heads", 16).put("attention_head_dim", 72).put("in_channels", 4)
                .put("out_channels", 8).put("num_layers", 28).put("patch_size", 2).put("sample_size", 32)
                .put("num_embeds_ada_norm", 1000).put("norm_type", "ada_norm_zero")
                .put("activation_fn", "gelu-approximate")));
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            DiTTransformer2DModel dit = DiTTransformer2DModel.load(cfg,
                    new RandomStateDict(new DiTTransformer2DModel(cfg), w, false), w, dtype);
            NDArray x = w.randomNormal(new Shape(batch, 4, 32, 32)).toType(dtype, false);
            long[] labels = new long[batch];
            Timing tm = time(w, 5, 30, List.of(x), () -> dit.forward(x, new double[] {500}, labels));
            print("{\"model\":\"dit_xl_2\",\"impl\":\"jdiffuse\",\"res\":256,\"batch\":%d,\"dtype\":\"%s\","
                    + "\"step_ms\":%.3f,\"host_submit_ms\":%.3f,\"params_m\":%.1f,\"it_per_s\":%.2f}", batch, dtype,
                    tm.stepMs, tm.submitMs, dit.parameterCount() / 1e6, 1000 / tm.stepMs);
        }
    }

    static void sd3Case(Device gpu, DataType dtype, int batch) {
        SD3TransformerConfig cfg = SD3TransformerConfig.from(ConfigJson.of("SD3-medium", JSON.createObjectNode()
                .put("sample_size", 128).put("patch_size", 2).put("in_channels", 16).put("num_layers", 24)
                .put("attention_head_dim", 64).put("num_attention_heads", 24).put("joint_attention_dim", 4096)
                .put("caption_projection_dim", 1536).put("pooled_projection_dim", 2048).put("out_channels", 16)
                .put("pos_embed_max_size", 192)));
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            SD3Transformer2DModel m3 = SD3Transformer2DModel.load(cfg,
                    new RandomStateDict(new SD3Transformer2DModel(cfg), w, false), w, dtype);
            NDArray x = w.randomNormal(new Shape(batch, 16, 128, 128)).toType(dtype, false);
            NDArray ctx = w.randomNormal(new Shape(batch, 333, 4096)).toType(dtype, false);
            NDArray pooled = w.randomNormal(new Shape(batch, 2048)).toType(dtype, false);
            Timing tm = time(w, 3, 10, List.of(x, ctx, pooled),
                    () -> m3.forwardComposite(x, ctx, pooled, new double[] {500}));
            print("{\"model\":\"sd3_medium_mmdit\",\"impl\":\"jdiffuse\",\"res\":1024,\"batch\":%d,\"dtype\":\"%s\","
                    + "\"step_ms\":%.3f,\"host_submit_ms\":%.3f,\"params_m\":%.1f,\"it_per_s\":%.2f}", batch, dtype,
                    tm.stepMs, tm.submitMs, m3.parameterCount() / 1e6, 1000 / tm.stepMs);
            // the one-call TorchScript forward (the server's default), same weights and inputs
            Timing ts = time(w, 3, 10, List.of(x, ctx, pooled), () -> m3.forward(x, ctx, pooled, new double[] {500}));
            print("{\"model\":\"sd3_medium_mmdit\",\"impl\":\"jdiffuse-script\",\"scripted\":%s,\"res\":1024,"
                    + "\"batch\":%d,\"dtype\":\"%s\",\"step_ms\":%.3f,\"host_submit_ms\":%.3f}", m3.scriptedForward(),
                    batch, dtype, ts.stepMs, ts.submitMs);
        }
    }

    /**
     * FLUX.1-dev's transformer (its published config: 19 double and 38 single blocks, 24 heads of 128, guidance
     * embedding) with random weights, one 1024x1024 image (4096 packed tokens) and a 512-token T5 context, batch 1
     * as FLUX-dev runs without classifier-free guidance; pairs with {@code bench/gpu/flux_forward.py} (diffusers'
     * FluxTransformer2DModel, same config and shapes).
     */
    static void fluxCase(Device gpu, DataType dtype) {
        dev.jdiffuse.models.flux.FluxTransformerConfig cfg = fluxConfig();
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            long t0 = System.nanoTime();
            dev.jdiffuse.models.flux.FluxTransformer2DModel flux = dev.jdiffuse.models.flux.FluxTransformer2DModel
                    .load(cfg, new RandomStateDict(new dev.jdiffuse.models.flux.FluxTransformer2DModel(cfg), w,
                            false), w, dtype);
            double loadS = (System.nanoTime() - t0) / 1e9;
            NDArray x = w.randomNormal(new Shape(1, 4096, 64)).toType(dtype, false);
            NDArray ctx = w.randomNormal(new Shape(1, 512, 4096)).toType(dtype, false);
            NDArray pooled = w.randomNormal(new Shape(1, 768)).toType(dtype, false);
            Timing tm = time(w, 3, 10, List.of(x, ctx, pooled),
                    () -> flux.forwardComposite(x, 64, 64, ctx, pooled, new double[] {500}, new double[] {3.5}));
            print("{\"model\":\"flux1_dev_transformer\",\"impl\":\"jdiffuse-composite\",\"res\":1024,\"batch\":1,"
                    + "\"dtype\":\"%s\",\"step_ms\":%.3f,\"host_submit_ms\":%.3f,\"random_load_s\":%.1f}", dtype,
                    tm.stepMs, tm.submitMs, loadS);
            // the one-call TorchScript forward (the server's default), same weights and inputs
            Timing ts = time(w, 3, 10, List.of(x, ctx, pooled),
                    () -> flux.forward(x, 64, 64, ctx, pooled, new double[] {500}, new double[] {3.5}));
            print("{\"model\":\"flux1_dev_transformer\",\"impl\":\"jdiffuse-script\",\"scripted\":%s,\"res\":1024,"
                    + "\"batch\":1,\"dtype\":\"%s\",\"step_ms\":%.3f,\"host_submit_ms\":%.3f}", flux.scriptedForward(),
                    dtype, ts.stepMs, ts.submitMs);
        }
    }

    /** FLUX.1-dev's published transformer config (also read by bench/gpu/DumpUnetScript.java). */
    static dev.jdiffuse.models.flux.FluxTransformerConfig fluxConfig() {
        com.fasterxml.jackson.databind.node.ObjectNode c = JSON.createObjectNode().put("patch_size", 1)
                .put("in_channels", 64).put("num_layers", 19).put("num_single_layers", 38)
                .put("attention_head_dim", 128).put("num_attention_heads", 24).put("joint_attention_dim", 4096)
                .put("pooled_projection_dim", 768).put("guidance_embeds", true);
        c.set("axes_dims_rope", JSON.valueToTree(new int[] {16, 56, 56}));
        return dev.jdiffuse.models.flux.FluxTransformerConfig.from(ConfigJson.of("FLUX.1-dev (published config)", c));
    }

    /** Per-forward wall time (synchronised) and host submit time. */
    public record Timing(double stepMs, double submitMs) {
    }

    /**
     * Runs {@code warm} untimed then {@code n} timed forwards, each in its own sub-manager (the inputs are attached
     * to it for the call, so every intermediate is freed with it); {@code stepMs} is wall time per forward with the
     * device synchronised at the end, {@code submitMs} the host time per forward before that synchronisation (close
     * to stepMs means the host, not the GPU, is the bottleneck).
     */
    static Timing time(NDManager base, int warm, int n, List<NDArray> inputs, Supplier<NDArray> forward) {
        for (int i = 0; i < warm; i++) {
            try (NDManager m = base.newSubManager()) {
                inputs.forEach(a -> a.tempAttach(m));
                forward.get().sum().getFloat();
            }
        }
        long t0 = System.nanoTime();
        long submitted = 0;
        for (int i = 0; i < n; i++) {
            try (NDManager m = base.newSubManager()) {
                inputs.forEach(a -> a.tempAttach(m));
                NDArray out = forward.get();
                if (i == n - 1) {
                    submitted = System.nanoTime();
                    out.sum().getFloat();
                }
            }
        }
        long t1 = System.nanoTime();
        return new Timing((t1 - t0) / 1e6 / n, (submitted - t0) / 1e6 / n);
    }

    /**
     * Host time to enqueue one forward when the device starts idle (synchronised before and after): below the
     * synchronised step time the GPU is the bottleneck, equal to it the host.
     */
    static double enqueueOnce(NDManager base, List<NDArray> inputs, Supplier<NDArray> forward) {
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            try (NDManager m = base.newSubManager()) {
                inputs.forEach(a -> a.tempAttach(m));
                inputs.get(0).sum().getFloat();
                long t0 = System.nanoTime();
                NDArray out = forward.get();
                long t1 = System.nanoTime();
                out.sum().getFloat();
                best = Math.min(best, (t1 - t0) / 1e6);
            }
        }
        return best;
    }

    private static void print(String fmt, Object... args) {
        System.out.println(String.format(Locale.ROOT, fmt, args));
    }
}
