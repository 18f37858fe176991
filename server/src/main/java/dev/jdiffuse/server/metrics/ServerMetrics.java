package dev.jdiffuse.server.metrics;

import dev.jdiffuse.models.nn.CudaGraphCache;
import dev.jdiffuse.samplers.batching.RowGatherer;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.server.jobs.JobOutcomes;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.stream.Frame;
import dev.jdiffuse.server.stream.Outbox;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * Prometheus metrics through Micrometer: queue depth, jobs by outcome, queue wait and run time histograms, sampling
 * speed, per device (label {@code device}) the running jobs and images, the loaded models and the jobs and images per
 * shared denoiser forward and per VAE decoding, WebSocket connections and dropped frames, JVM memory/GC/threads, and
 * the process's resident memory from {@code /proc/self/status} (VmRSS: the JVM heap plus native memory such as
 * libtorch's allocations).
 */
public final class ServerMetrics implements JobOutcomes, Outbox.Observer, AutoCloseable {

    private static final double[] BATCH_SIZES = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64};


    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gc = new JvmGcMetrics();
    private final Timer wait;
    private final Timer run;
    private final DistributionSummary stepsPerSecond;

    public ServerMetrics() {
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        Gauge.builder("process.resident.memory", ServerMetrics::residentBytes).baseUnit("bytes")
                .description("resident set size (VmRSS): heap plus native memory").register(registry);
        wait = Timer.builder("jdiffuse.job.wait").description("time jobs spent queued")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofHours(1)).register(registry);
        run = Timer.builder("jdiffuse.job.run").description("time jobs spent running")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofHours(1)).register(registry);
        stepsPerSecond = DistributionSummary.builder("jdiffuse.sampling.steps.per.second")
                .description("sampler steps per second of each succeeded job").register(registry);
        // --cuda-graphs: whether small UNet forwards really replay graphs (read from counters only: nothing here
        // loads the helper library)
        FunctionCounter.builder("jdiffuse.cuda.graph.captures", this, m -> CudaGraphCache.capturedTotal())
                .description("CUDA graphs captured (one per model and input shape)").register(registry);
        FunctionCounter.builder("jdiffuse.cuda.graph.replays", this, m -> CudaGraphCache.replayedTotal())
                .description("UNet forwards run as a CUDA graph replay").register(registry);
        Gauge.builder("jdiffuse.cuda.graphs.failed", () -> CudaGraphCache.offForTheProcess() ? 1 : 0)
                .description("1 when a failed capture turned CUDA graphs off for the process").register(registry);
    }

    /**
     * What the batchers of the models on device {@code device} report: jobs and images of each shared denoiser
     * forward (continuous batching), as histograms labelled with the device.
     */
    public StepBatcher.Observer batches(String device) {
        DistributionSummary jobs = DistributionSummary.builder("jdiffuse.batch.jobs")
                .description("jobs sharing each denoiser forward of running jobs (continuous batching)")
                .tag("device", device).serviceLevelObjectives(BATCH_SIZES).register(registry);
        DistributionSummary images = DistributionSummary.builder("jdiffuse.batch.images")
                .description("images (the jobs' batch rows before guidance) in each denoiser forward")
                .tag("device", device).serviceLevelObjectives(BATCH_SIZES).register(registry);
        return (j, i, rows) -> {
            jobs.record(j);
            images.record(i);
        };
    }

    /**
     * What the batchers' gatherers of the models on device {@code device} report: jobs and images of each VAE
     * decoding of running jobs (jobs that finish together decode in one call), as histograms labelled with the device.
     */
    public RowGatherer.Observer decodes(String device) {
        DistributionSummary jobs = DistributionSummary.builder("jdiffuse.decode.jobs")
                .description("jobs sharing each VAE decoding of running jobs (jobs that finished together)")
                .tag("device", device).serviceLevelObjectives(BATCH_SIZES).register(registry);
        DistributionSummary images = DistributionSummary.builder("jdiffuse.decode.images")
                .description("images in each VAE decoding of running jobs")
                .tag("device", device).serviceLevelObjectives(BATCH_SIZES).register(registry);
        return (j, rows) -> {
            jobs.record(j);
            images.record(rows);
        };
    }

    /**
     * Registers, for each device label (by index), the gauges of the jobs and images running there and of the models
     * loaded there, and the batch and decode histograms (empty until a job runs beside others).
     */
    public void bindDevices(List<String> devices, IntFunction<Number> runningJobs, IntFunction<Number> runningImages,
            IntFunction<Number> loadedModels) {
        for (int d = 0; d < devices.size(); d++) {
            int index = d;
            String label = devices.get(d);
            Gauge.builder("jdiffuse.device.jobs.running", () -> runningJobs.apply(index).doubleValue())
                    .description("jobs running (or loading their model) on the device").tag("device", label)
                    .register(registry);
            Gauge.builder("jdiffuse.device.images.running", () -> runningImages.apply(index).doubleValue())
                    .description("images of the jobs running on the device (--batch-images bounds it)")
                    .tag("device", label).register(registry);
            Gauge.builder("jdiffuse.device.models.loaded", () -> loadedModels.apply(index).doubleValue())
                    .description("models loaded on the device (--max-loaded-models bounds it)").tag("device", label)
                    .register(registry);
            batches(label);
            decodes(label);
        }
    }

    /** Registers the queue depth and WebSocket gauges. */
    public void bind(Supplier<Number> queueDepth, Supplier<Number> wsConnections, Supplier<Number> wsQueuedBytes) {
        Gauge.builder("jdiffuse.queue.depth", () -> queueDepth.get().doubleValue())
                .description("jobs waiting to start").register(registry);
        Gauge.builder("jdiffuse.ws.connections", () -> wsConnections.get().doubleValue())
                .description("open WebSocket connections").register(registry);
        Gauge.builder("jdiffuse.ws.queued", () -> wsQueuedBytes.get().doubleValue()).baseUnit("bytes")
                .description("outbound WebSocket bytes waiting for slow clients").register(registry);
    }

    /** Registers the memory budgets' gauges: bytes held by uploads, finished results and queued jobs' images. */
    public void bindBudgets(Supplier<Number> uploadBytes, Supplier<Number> resultBytes, Supplier<Number> decodedBytes) {
        Gauge.builder("jdiffuse.uploads.held", () -> uploadBytes.get().doubleValue()).baseUnit("bytes")
                .description("encoded upload bytes held (--upload-budget-bytes)").register(registry);
        Gauge.builder("jdiffuse.results.held", () -> resultBytes.get().doubleValue()).baseUnit("bytes")
                .description("finished PNG bytes held in memory (--result-budget-bytes)").register(registry);
        Gauge.builder("jdiffuse.decoded.held", () -> decodedBytes.get().doubleValue()).baseUnit("bytes")
                .description("decoded upload bytes held by waiting and running jobs (--decoded-budget-bytes)")
                .register(registry);
    }

    /** Registers the gauge of devices a CUDA error broke for this process ({@code JobManager#failedDevices}). */
    public void bindDeviceFailure(java.util.function.IntSupplier failed) {
        Gauge.builder("jdiffuse.device.failed", () -> failed.getAsInt())
                .description("devices a CUDA error broke for this process (each runs nothing until a restart)")
                .register(registry);
    }

    /** Registers the gauge of requests held until their job ends ({@code Prefer: wait}, {@code ?wait=}). */
    public void bindHeldRequests(Supplier<Number> held) {
        Gauge.builder("jdiffuse.http.held.requests", () -> held.get().doubleValue())
                .description("requests held until their job ends (Prefer: wait, ?wait=)").register(registry);
    }

    @Override
    public void ended(String owner, JobStatus status, String code, long waitMillis, long runMillis, int steps,
            long denoiseMillis) {
        Counter.builder("jdiffuse.jobs").description("jobs by terminal outcome")
                .tag("outcome", status.apiName()).tag("reason", code == null ? "none" : code)
                .register(registry).increment();
        Counter.builder("jdiffuse.jobs.by.key").description("jobs by API key name and terminal outcome")
                .tag("key", owner).tag("outcome", status.apiName()).register(registry).increment();
        wait.record(Duration.ofMillis(waitMillis));
        if (runMillis > 0 || status != JobStatus.CANCELLED) {
            run.record(Duration.ofMillis(runMillis));
        }
        if (status == JobStatus.SUCCEEDED && steps > 0) {
            long ms = denoiseMillis > 0 ? denoiseMillis : runMillis;
            if (ms > 0) {
                stepsPerSecond.record(steps * 1000.0 / ms);
            }
        }
    }

    @Override
    public void dropped(Frame.Kind kind) {
        Counter.builder("jdiffuse.ws.frames.dropped").description("outbound frames dropped for slow clients")
                .tag("kind", kind.name().toLowerCase(Locale.ROOT)).register(registry).increment();
    }

    @Override
    public void overflowClosed() {
        Counter.builder("jdiffuse.ws.overflow.closed").description("connections closed because they fell behind")
                .register(registry).increment();
    }

    /** The exposition text. */
    public String scrape() {
        return registry.scrape();
    }

    /** VmRSS in bytes, or NaN where /proc is absent. */
    static double residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }

    @Override
    public void close() {
        gc.close();
        registry.close();
    }
}
