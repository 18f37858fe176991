package dev.jdiffuse.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.InferenceThreads;
import dev.jdiffuse.models.pipeline.sd.SdConditioning;
import dev.jdiffuse.models.pipeline.sd.UNetNetwork;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.unet.UNetExtras;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.samplers.prediction.Network;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;

/**
 * Where the time of a shared forward goes (issue 13): the SD 1.5 UNet (full size, random weights, float16 on the GPU)
 * at growing batch sizes, with one timestep for the batch and with one per row as the {@link StepBatcher} calls it;
 * then N threads each running a "job" of CFG-sized calls through a {@link StepBatcher}, as the server's jobs do,
 * against the same calls made one thread at a time. JSON lines on stdout.
 *
 * <p>Usage: {@code java -cp ... dev.jdiffuse.bench.BatchingBench [batches=2,8,32] [lanes=1,4,16] [steps=10]}.
 */
public final class BatchingBench {

    private BatchingBench() {
    }

    public static void main(String[] args) throws Exception {
        int[] batches = ints(arg(args, "batches", "2,8,32"));
        int[] laneCounts = ints(arg(args, "lanes", "1,4,16"));
        int steps = Integer.parseInt(arg(args, "steps", "10"));
        Device gpu = Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        DataType dtype = gpu.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
        System.err.println("device " + gpu + ", engine " + Engine.getInstance().getVersion());
        threadInit();
        UNet2DConditionConfig cfg = DenoiserBench.sd15Config();
        try (NDManager w = NDManager.newBaseManager(gpu)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(cfg,
                    new RandomStateDict(new UNet2DConditionModel(cfg), w, false), w, dtype, "sd15");
            for (int b : batches) {
                NDArray x = w.randomNormal(new Shape(b, 4, 64, 64)).toType(dtype, false);
                NDArray ctx = w.randomNormal(new Shape(b, 77, 768)).toType(dtype, false);
                double[] perRow = new double[b];
                for (int i = 0; i < b; i++) {
                    perRow[i] = 999 - 37 * i % 999;
                }
                DenoiserBench.Timing one = DenoiserBench.time(w, 3, 10, List.of(x, ctx),
                        () -> unet.forward(x, new double[] {500}, ctx, UNetExtras.NONE));
                DenoiserBench.Timing rows = DenoiserBench.time(w, 3, 10, List.of(x, ctx),
                        () -> unet.forward(x, perRow, ctx, UNetExtras.NONE));
                print("{\"bench\":\"unet_sd15_forward\",\"res\":512,\"batch\":%d,\"dtype\":\"%s\",\"step_ms\":%.3f,"
                        + "\"host_submit_ms\":%.3f,\"per_row_timesteps_step_ms\":%.3f,\"per_row_host_submit_ms\":%.3f}",
                        b, dtype, one.stepMs(), one.submitMs(), rows.stepMs(), rows.submitMs());
                x.close();
                ctx.close();
            }
            Network network = new UNetNetwork(unet); // the SD family's own network under its batcher
            for (int n : laneCounts) {
                StepBatcher batcher = new StepBatcher(network, InferenceThreads::prepare);
                batcher.configure(n, Duration.ofMillis(2));
                List<Long> forwards = new ArrayList<>();
                batcher.observe((jobs, images, rows) -> {
                    synchronized (forwards) {
                        forwards.add((long) jobs);
                    }
                });
                double together = lanes(w, batcher, n, steps, dtype, true);
                int shared = forwards.size();
                double alone = lanes(w, network, n, steps, dtype, false);
                print("{\"bench\":\"step_batcher_sd15\",\"thread\":\"" + System.getProperty("bench.thread", "product")
                        + "\",\"fused\":\"" + System.getProperty("jdiffuse.fused", "true") + "\",\"res\":512,\"jobs\":%d,\"steps\":%d,\"rows_per_job\":2,"
                        + "\"together_ms\":%.1f,\"forwards\":%d,\"one_after_another_ms\":%.1f}",
                        n, steps, together, shared, alone);
            }
        }
    }

    /**
     * {@code n} jobs of {@code steps} CFG-sized calls ([2, 4, 64, 64] float32 in, one text context each), on {@code n}
     * threads in lanes of the batcher ({@code together}) or one job after another on this thread; wall milliseconds
     * with the device synchronised at the end.
     */
    private static double lanes(NDManager w, Network net, int n, int steps, DataType dtype, boolean together)
            throws Exception {
        List<NDArray> contexts = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            contexts.add(w.randomNormal(new Shape(2, 77, 768)).toType(dtype, false));
        }
        Runnable[] jobs = new Runnable[n];
        CyclicBarrier start = new CyclicBarrier(together ? n + 1 : 1);
        for (int j = 0; j < n; j++) {
            NDArray ctx = contexts.get(j);
            int job = j;
            jobs[j] = () -> {
                threadInit();
                try (NDManager m = w.newSubManager()) {
                    SdConditioning c = new SdConditioning(ctx, null, null);
                    NDArray x = m.randomNormal(new Shape(2, 4, 64, 64));
                    if (together) {
                        start.await();
                    }
                    try (Lane lane = net instanceof StepBatcher b ? b.join(1) : null) {
                        for (int s = 0; s < steps; s++) {
                            try (NDManager step = m.newSubManager()) {
                                NDArray in = x.duplicate();
                                in.attach(step);
                                NDArray out = net.forward(in, 999.0 - 50 * s - job, c);
                                out.sum().getFloat(); // a job's own host read each step: the worst case
                            }
                        }
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            };
        }
        // warm up at every batch size a forward may take (and let cuDNN pick its kernels)
        for (int rows = 2; rows <= 2 * n; rows *= 2) {
            try (NDManager m = w.newSubManager()) {
                NDArray ctx = w.randomNormal(new Shape(rows, 77, 768)).toType(dtype, false);
                ctx.attach(m);
                net.forward(m.randomNormal(new Shape(rows, 4, 64, 64)), 500.0, new SdConditioning(ctx, null, null))
                        .sum().getFloat();
            }
        }
        long t0;
        if (together) {
            List<Thread> threads = new ArrayList<>();
            for (Runnable r : jobs) {
                Thread t = new Thread(r);
                threads.add(t);
                t.start();
            }
            start.await();
            t0 = System.nanoTime();
            for (Thread t : threads) {
                t.join();
            }
        } else {
            t0 = System.nanoTime();
            for (Runnable r : jobs) {
                r.run();
            }
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        contexts.forEach(NDArray::close);
        return ms;
    }

    /**
     * PyTorch keeps grad mode and the TorchScript graph-executor "optimize" flag per thread. By default every thread
     * that runs a job (and the main one) is prepared as the server prepares its threads; {@code -Dbench.thread=none}
     * leaves them as they start, {@code nograd}, {@code noopt} or {@code both} switch those off by hand.
     */
    static void threadInit() {
        String mode = System.getProperty("bench.thread", "product");
        if (mode.equals("product")) {
            InferenceThreads.prepare(); // what the server's job threads do
            return;
        }
        if (mode.equals("nograd") || mode.equals("both")) {
            ai.djl.pytorch.jni.JniUtils.setGradMode(false);
        }
        if (mode.equals("noopt") || mode.equals("both")) {
            ai.djl.pytorch.jni.JniUtils.setGraphExecutorOptimize(false);
        }
    }

    private static String arg(String[] args, String key, String dflt) {
        for (String a : args) {
            if (a.startsWith(key + "=")) {
                return a.substring(key.length() + 1);
            }
        }
        return dflt;
    }

    private static int[] ints(String csv) {
        return java.util.Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    private static void print(String fmt, Object... args) {
        System.out.println(String.format(Locale.ROOT, fmt, args));
    }
}
