package dev.jdiffuse.server;

import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.Preview;
import dev.jdiffuse.models.pipeline.PreviewSpec;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.schedulers.SamplingSchedule;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A controllable {@link ImagePipeline} for server tests: sleeps {@code stepMillis} per step, reports steps and
 * previews through the listener (which may cancel), and draws a small image from the seed. Prompts steer it:
 * {@code "hold"} blocks after step 0 until {@link #release()}, {@code "fail"} throws a NaN error at step 1,
 * {@code "boom-schedule"} makes the dry run throw an unexpected exception, {@code "noise-previews"} makes previews
 * random noise (incompressible, for back-pressure tests), {@code "oom"} throws OutOfMemoryError at step 1,
 * {@code "cuda-oom"} and {@code "cuda-fatal"} PyTorch's errors for device memory and a broken device at step 1.
 * Counts runs per prompt.
 */
final class ScriptedPipeline implements ImagePipeline {

    volatile long stepMillis;
    final Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();
    final Semaphore gate = new Semaphore(0);
    final Semaphore reachedHold = new Semaphore(0);
    final AtomicInteger stepsRun = new AtomicInteger();
    /** The request of the last run, as the API built it. */
    volatile GenerationRequest last;

    ScriptedPipeline(long stepMillis) {
        this.stepMillis = stepMillis;
    }

    void release() {
        gate.release(1000);
    }

    boolean awaitHold(long millis) throws InterruptedException {
        return reachedHold.tryAcquire(millis, TimeUnit.MILLISECONDS);
    }

    int runsOf(String prompt) {
        AtomicInteger n = runs.get(prompt);
        return n == null ? 0 : n.get();
    }

    @Override
    public String name() {
        return "tiny";
    }

    @Override
    public String family() {
        return "test";
    }

    @Override
    public PipelineDefaults defaults() {
        return new PipelineDefaults("euler", "default", 4, 64, 64, 5.0);
    }

    @Override
    public List<String> controlnets() {
        return List.of("canny");
    }

    @Override
    public int pixelsPerLatent() {
        return 8;
    }

    @Override
    public List<String> samplers() {
        return SamplerCatalog.of(SamplerCatalog.NoiseSpace.DIFFUSION).stream().map(SamplerCatalog.Entry::name).toList();
    }

    /** As a real model refuses: typed field errors for samplers of another noise space and impossible schedules. */
    @Override
    public List<FieldError> check(GenerationRequest r) {
        if (r.prompt().equals("boom-schedule")) {
            throw new IllegalStateException("internal detail /secret/path that must not reach clients");
        }
        List<FieldError> errors = new ArrayList<>();
        if (!samplers().contains(r.sampler())) {
            errors.add(new FieldError("sampler", SamplerCatalog.sampler(r.sampler()).isPresent()
                    ? "unsupported_sampler" : "unknown_sampler", "sampler '" + r.sampler() + "' does not apply"));
        }
        if (SamplerCatalog.schedule(r.schedule()).isEmpty()) {
            errors.add(new FieldError("schedule", "unknown_schedule", "unknown schedule '" + r.schedule() + "'"));
        } else if (r.sampler().equals("lcm") && !r.schedule().equals("default")) {
            errors.add(new FieldError("schedule", "unsupported_combination", "lcm takes only the default schedule"));
        }
        return errors;
    }

    @Override
    public SamplingSchedule schedule(GenerationRequest r) {
        List<FieldError> errors = check(r);
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        int n = r.steps();
        double[] sigmas = new double[n + 1];
        double[] timesteps = new double[n];
        for (int i = 0; i < n; i++) {
            sigmas[i] = 10.0 * (n - i) / n;
            timesteps[i] = 999.0 * (n - i) / n;
        }
        return new SamplingSchedule(sigmas, timesteps, sigmas[0]);
    }

    @Override
    public GenerationResult generate(GenerationRequest r, GenerationListener listener) {
        runs.computeIfAbsent(r.prompt(), k -> new AtomicInteger()).incrementAndGet();
        last = r;
        SamplingSchedule s = schedule(r);
        Random rnd = new Random(r.seed());
        long t0 = System.nanoTime();
        for (int step = 0; step < r.steps(); step++) {
            sleep(stepMillis);
            stepsRun.incrementAndGet();
            if (r.prompt().equals("fail") && step == 1) {
                throw new GenerationException(GenerationException.Kind.NON_FINITE_OUTPUT,
                        "latents became NaN at step 2");
            }
            if (r.prompt().equals("oom") && step == 1) {
                // what a real allocation failure throws; the 1 GiB it would have taken is never allocated
                throw new OutOfMemoryError("Java heap space");
            }
            if (r.prompt().equals("cuda-oom") && step == 1) {
                // PyTorch's message, as DJL passes it on from a forward
                throw new ai.djl.engine.EngineException("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has "
                        + "a total capacity of 79.19 GiB of which 3.06 GiB is free.");
            }
            if (r.prompt().equals("cuda-fatal") && step == 1) {
                throw new IllegalStateException("a shared forward failed", new ai.djl.engine.EngineException(
                        "CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be "
                        + "asynchronously reported at some other API call"));
            }
            listener.onStep(step, r.steps(), s.sigma(step + 1));
            if (r.prompt().equals("hold") && step == 0) {
                reachedHold.release();
                try {
                    gate.acquire();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }
            if (r.preview().wants(step, r.steps())) {
                listener.onPreview(preview(r, step, rnd));
            }
        }
        long denoise = (System.nanoTime() - t0) / 1_000_000;
        List<BufferedImage> images = new ArrayList<>();
        for (int b = 0; b < r.batchSize(); b++) {
            images.add(solid(r.width(), r.height(), (int) (r.seed() * 31 + b) & 0xffffff));
        }
        return new GenerationResult(images, r.seed(), r.sampler(), r.schedule(), s.sigmas(), 1, denoise, 1);
    }

    private static Preview preview(GenerationRequest r, int step, Random rnd) {
        int size = Math.min(r.preview().maxSize(), Math.max(r.width(), r.height()));
        if (r.preview().method() == PreviewSpec.Method.LATENT) {
            int c = 4;
            int h = r.height() / 8;
            int w = r.width() / 8;
            byte[] fp16 = new byte[c * h * w * 2];
            rnd.nextBytes(fp16);
            return Preview.ofLatent(step, fp16, c, h, w);
        }
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        boolean noise = r.prompt().equals("noise-previews");
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                img.setRGB(x, y, noise ? rnd.nextInt() & 0xffffff : (step * 40 << 16) | (x << 8) | y);
            }
        }
        return Preview.ofImage(step, r.preview().method(), img);
    }

    private static BufferedImage solid(int w, int h, int rgb) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        return img;
    }

    private static void sleep(long ms) {
        if (ms <= 0) {
            return;
        }
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        release();
    }
}
