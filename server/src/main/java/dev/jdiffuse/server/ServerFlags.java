package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.models.DeviceNames;
import dev.jdiffuse.server.models.ModelBudget;
import dev.jdiffuse.server.models.WarmUp;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The options of {@code serve} and {@code demo}, as picocli parses them. Each {@code --some-name} has the environment
 * equivalent {@code JDIFFUSE_SOME_NAME} ({@link #fromEnvironment}); a flag wins over the environment, the environment
 * over the default.
 */
public final class ServerFlags {

    @Option(names = "--port", defaultValue = "8765", description = "TCP port (default ${DEFAULT-VALUE}, 0 = any free "
            + "port) [env JDIFFUSE_PORT]")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to bind (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_HOST]")
    String host;

    @Option(names = "--models", description = "folder whose entries (diffusers folders or single-file checkpoints) "
            + "are served: the default (first by name that loads) at start-up, others on first use "
            + "[env JDIFFUSE_MODELS]")
    Path models;

    @Option(names = "--loras", description = "folder of LoRA .safetensors files, each named after its file (default: "
            + "a 'loras' folder beside the models folder, if there is one) [env JDIFFUSE_LORAS]")
    Path loras;

    @Option(names = "--embeddings", description = "folder of textual-inversion embedding .safetensors files, each "
            + "named after its file and used by writing that name in a prompt (default: an 'embeddings' folder beside "
            + "the models folder, if there is one) [env JDIFFUSE_EMBEDDINGS]")
    Path embeddings;
    /**
     * Two: the model being used and one more, so alternating between two models (a base and its refiner or
     * inpainting variant) does not reload one at every switch, while two SDXL models in fp16 (about 7 GB each)
     * still fit a 24 GB GPU. Servers with less memory set 1; many small models can take more.
     */
    static final int DEFAULT_MAX_LOADED_MODELS = 2;

    @Option(names = "--max-loaded-models", defaultValue = "" + DEFAULT_MAX_LOADED_MODELS, description = "models kept "
            + "loaded at once on each device; loading one more there evicts its least recently used idle one "
            + "(default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_MAX_LOADED_MODELS]")
    int maxLoadedModels;

    @Option(names = "--max-loaded-bytes", defaultValue = "0", description = "most bytes of weight files (as on disk) "
            + "kept loaded at once on each device, 0 = no limit (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_MAX_LOADED_BYTES]")
    long maxLoadedBytes;

    @Option(names = "--device", defaultValue = "auto", description = "auto|cpu|cuda|cuda:N (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_DEVICE]")
    String device;

    @Option(names = "--devices", description = "comma-separated devices, each with its own workers, loaded models "
            + "(--max-loaded-models/-bytes each) and --batch-images budget, e.g. cuda:0,cuda:1; a job goes to the "
            + "least-loaded device that has its model loaded, else the least-loaded one (default: the one --device; "
            + "replaces it when given) [env JDIFFUSE_DEVICES]")
    String devices;

    @Option(names = "--t5-device", description = "SD 3 / 3.5 and FLUX: keep the T5 text encoder (9.5 GB in 16 bits) "
            + "on this device in float32, e.g. cpu, so the model fits a smaller GPU; its context crosses once per "
            + "prompt (default: with the model) [env JDIFFUSE_T5_DEVICE]")
    String t5Device;

    @Option(names = "--webhook-url", description = "POST every finished job (JSON: event, job) to this http(s) URL; "
            + "retried 3 times, never holding up a job (default: none) [env JDIFFUSE_WEBHOOK_URL]")
    String webhookUrl;

    @Option(names = "--webhook-secret-file", description = "file whose content signs the webhook's events "
            + "(X-Jdiffuse-Signature-256: sha256=HMAC of the body) [env JDIFFUSE_WEBHOOK_SECRET_FILE]")
    Path webhookSecretFile;

    @Option(names = "--dtype", defaultValue = "auto", description = "auto|fp32|fp16|bf16 (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_DTYPE]")
    String dtype;

    @Option(names = "--queue-size", defaultValue = "16", description = "jobs waiting behind the running one before "
            + "429 (default ${DEFAULT-VALUE}) [env JDIFFUSE_QUEUE_SIZE]")
    int queueSize;

    @Option(names = "--result-ttl", defaultValue = "3600", description = "seconds finished jobs and images are kept "
            + "(default ${DEFAULT-VALUE}) [env JDIFFUSE_RESULT_TTL]")
    long resultTtl;

    @Option(names = "--max-side", defaultValue = "2048", description = "largest width or height (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_MAX_SIDE]")
    int maxSide;

    @Option(names = "--max-pixels", defaultValue = "4194304", description = "largest width*height (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_MAX_PIXELS]")
    long maxPixels;

    @Option(names = "--max-steps", defaultValue = "150", description = "most sampler steps (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_MAX_STEPS]")
    int maxSteps;

    @Option(names = "--max-batch", defaultValue = "8", description = "most images per request (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_MAX_BATCH]")
    int maxBatch;

    @Option(names = "--batch-images", defaultValue = "1", description = "most images of concurrent jobs in one "
            + "denoiser forward, per device: jobs on one model run together while their images fit, sharing a "
            + "forward per step, and jobs that finish together decode in one VAE call (--batch-decode-images) "
            + "(default ${DEFAULT-VALUE}: one job at a time; --max-batch stays the per-request limit) "
            + "[env JDIFFUSE_BATCH_IMAGES]")
    int batchImages;

    @Option(names = "--batch-decode-images", defaultValue = "0", description = "most images in one VAE decoding "
            + "of jobs that finished together, per model and device (default ${DEFAULT-VALUE}: as --batch-images; "
            + "1: each job decodes alone, as before; lower it where the decoder's full-resolution activations of "
            + "that many images would not fit) [env JDIFFUSE_BATCH_DECODE_IMAGES]")
    int batchDecodeImages;

    @Option(names = "--batch-window-ms", defaultValue = "20", description = "longest wait of a job's step for the "
            + "other running jobs' steps, of a new job's first step for the jobs that started with it, and of a "
            + "finished job's decoding for the jobs that finished with it, only "
            + "while jobs share the model (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_BATCH_WINDOW_MS]")
    int batchWindowMs;

    @Option(names = "--warmup-batches", defaultValue = "auto", description = "batch sizes each model generates once "
            + "(2 steps, its default size) right after it loads, so the first users do not pay PyTorch's first-time "
            + "cost of each batch shape on the GPU (and, with --cuda-graphs, its capture): e.g. 1-16 with "
            + "--batch-images 16, or none (default ${DEFAULT-VALUE}: 1 on a GPU, none on the CPU) "
            + "[env JDIFFUSE_WARMUP_BATCHES]")
    String warmupBatches;

    @Option(names = "--cuda-graphs", description = "the CUDA-graph helper library (libjdiffuse_cudagraphs.so, built by "
            + "native/cudagraphs/build.sh against the libtorch the server runs on; the Docker image has it): small "
            + "UNet forwards on CUDA devices then replay CUDA graphs instead of launching each kernel from the host "
            + "(default: off) [env JDIFFUSE_CUDA_GRAPHS]")
    Path cudaGraphs;

    @Option(names = "--max-prompt-chars", defaultValue = "10000", description = "longest prompt (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_MAX_PROMPT_CHARS]")
    int maxPromptChars;

    @Option(names = "--max-body-bytes", defaultValue = "262144", description = "largest JSON body (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_MAX_BODY_BYTES]")
    long maxBodyBytes;

    @Option(names = "--max-upload-bytes", defaultValue = "20971520", description = "largest upload (default "
            + "${DEFAULT-VALUE}) [env JDIFFUSE_MAX_UPLOAD_BYTES]")
    long maxUploadBytes;

    @Option(names = "--max-upload-pixels", defaultValue = "16777216", description = "most pixels an upload may "
            + "declare (default ${DEFAULT-VALUE}) [env JDIFFUSE_MAX_UPLOAD_PIXELS]")
    long maxUploadPixels;

    @Option(names = "--max-upload-side", defaultValue = "8192", description = "longest side an upload may declare "
            + "(default ${DEFAULT-VALUE}) [env JDIFFUSE_MAX_UPLOAD_SIDE]")
    int maxUploadSide;

    @Option(names = "--api-keys", description = "file of API keys, one 'name:sha256hex[:admin,queued=N,"
            + "images_per_hour=N,priority=high|normal|low]' a line; required beyond loopback (hash-key makes a key) "
            + "[env JDIFFUSE_API_KEYS]")
    Path apiKeys;

    @Option(names = "--insecure-no-auth", description = "serve beyond loopback without API keys (anyone who can "
            + "reach the port can use it) [env JDIFFUSE_INSECURE_NO_AUTH]")
    boolean insecureNoAuth;

    @Option(names = "--output-dir", defaultValue = "outputs", description = "where finished images (dated folders, "
            + "PNG with metadata) and the job history are kept (default ${DEFAULT-VALUE}) [env JDIFFUSE_OUTPUT_DIR]")
    Path outputDir;

    @Option(names = "--upload-budget-bytes", defaultValue = "268435456", description = "most encoded upload bytes "
            + "held at once (default ${DEFAULT-VALUE}) [env JDIFFUSE_UPLOAD_BUDGET_BYTES]")
    long uploadBudgetBytes;

    @Option(names = "--result-budget-bytes", defaultValue = "536870912", description = "most result PNG bytes held "
            + "in memory (default ${DEFAULT-VALUE}; older ones are read back from --output-dir) "
            + "[env JDIFFUSE_RESULT_BUDGET_BYTES]")
    long resultBudgetBytes;

    @Option(names = "--decoded-budget-bytes", defaultValue = "1073741824", description = "most decoded upload "
            + "pixels (4 bytes each) that queued jobs may hold (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_DECODED_BUDGET_BYTES]")
    long decodedBudgetBytes;

    @Option(names = "--max-job-seconds", defaultValue = "0", description = "refuse requests estimated to run longer "
            + "and cancel jobs that do (default ${DEFAULT-VALUE} = no limit) [env JDIFFUSE_MAX_JOB_SECONDS]")
    double maxJobSeconds;

    @Option(names = "--concurrent-uploads", defaultValue = "8", description = "upload bodies read at once "
            + "(default ${DEFAULT-VALUE}) [env JDIFFUSE_CONCURRENT_UPLOADS]")
    int concurrentUploads;

    @Option(names = "--body-timeout", defaultValue = "10", description = "seconds a request body may pause "
            + "before the connection is closed (default ${DEFAULT-VALUE}) [env JDIFFUSE_BODY_TIMEOUT]")
    long bodyTimeout;

    @Option(names = "--max-held-requests", defaultValue = "1024", description = "requests held at once until their "
            + "job ends (Prefer: wait, ?wait=); beyond it they are answered at once (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_MAX_HELD_REQUESTS]")
    int maxHeldRequests;

    @Option(names = "--max-queue-seconds", defaultValue = "0", description = "cancel a job that has waited this long "
            + "without starting (reason expired), so work its client gave up on does not take the GPU (default "
            + "${DEFAULT-VALUE} = no limit) [env JDIFFUSE_MAX_QUEUE_SECONDS]")
    double maxQueueSeconds;

    @Option(names = "--shutdown-grace", defaultValue = "10", description = "seconds SIGTERM waits for the running "
            + "job (default ${DEFAULT-VALUE}) [env JDIFFUSE_SHUTDOWN_GRACE]")
    long shutdownGrace;

    /** picocli defaults from {@code env}: {@code --queue-size} reads {@code JDIFFUSE_QUEUE_SIZE}. */
    static picocli.CommandLine.IDefaultValueProvider fromEnvironment(Map<String, String> env) {
        return arg -> {
            if (!(arg instanceof picocli.CommandLine.Model.OptionSpec o)) {
                return null;
            }
            String v = env.get("JDIFFUSE_" + o.longestName().substring(2).toUpperCase(Locale.ROOT).replace('-', '_'));
            return v == null || v.isBlank() ? null : v.trim();
        };
    }

    /** The options as the server takes them; throws IllegalArgumentException naming a flag out of range. */
    ServerOptions toOptions() {
        Map<String, Long> counts = Map.of("--port", (long) port, "--queue-size", (long) queueSize, "--result-ttl",
                resultTtl, "--max-side", (long) maxSide, "--max-pixels", maxPixels, "--max-steps", (long) maxSteps,
                "--max-batch", (long) maxBatch, "--max-prompt-chars", (long) maxPromptChars, "--max-body-bytes",
                maxBodyBytes, "--max-upload-bytes", maxUploadBytes);
        counts.forEach((flag, v) -> {
            if (v < 0) {
                throw new IllegalArgumentException(flag + " must not be negative, got " + v);
            }
        });
        Limits limits = new Limits(maxSide, maxPixels, maxSteps, maxBatch, maxPromptChars, maxBodyBytes,
                maxUploadBytes, maxUploadPixels, maxUploadSide);
        if (uploadBudgetBytes < 1 || resultBudgetBytes < 0 || decodedBudgetBytes < 1 || maxJobSeconds < 0
                || concurrentUploads < 1 || bodyTimeout < 1 || shutdownGrace < 0) {
            throw new IllegalArgumentException("budgets, --concurrent-uploads and --body-timeout must be positive");
        }
        if (!(maxQueueSeconds >= 0) || Double.isInfinite(maxQueueSeconds)) {
            throw new IllegalArgumentException("--max-queue-seconds must not be negative, got " + maxQueueSeconds);
        }
        if (maxHeldRequests < 0) {
            throw new IllegalArgumentException("--max-held-requests must not be negative, got " + maxHeldRequests);
        }
        Safety safety = new Safety(apiKeys, insecureNoAuth, outputDir, uploadBudgetBytes, resultBudgetBytes,
                decodedBudgetBytes, maxJobSeconds, concurrentUploads, Duration.ofSeconds(bodyTimeout),
                Duration.ofSeconds(shutdownGrace), maxHeldRequests,
                Duration.ofMillis((long) (maxQueueSeconds * 1000)));
        List<String> workers = devices != null ? DeviceNames.parse(devices) : List.of(device);
        return new ServerOptions(port, host, models, workers, dtype, queueSize, Duration.ofSeconds(resultTtl), limits,
                safety, new ModelBudget(maxLoadedModels, maxLoadedBytes), loras != null ? loras : lorasBesideModels(),
                new ServerOptions.Batching(batchImages, Duration.ofMillis(batchWindowMs),
                        batchDecodeImages == 0 ? batchImages : batchDecodeImages, WarmUp.parse(warmupBatches)),
                t5Device, webhookUrl == null || webhookUrl.isBlank() ? null : webhookUri(), webhookSecretFile,
                embeddings != null ? embeddings : besideModels("embeddings"));
    }

    private java.net.URI webhookUri() {
        try {
            return new java.net.URI(webhookUrl.strip());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException("--webhook-url is not a URL: " + e.getMessage());
        }
    }

    /** {@code <models>/../loras} when the models folder is given and that folder exists. */
    private Path lorasBesideModels() {
        return besideModels("loras");
    }

    /** {@code <models>/../<name>} when the models folder is given and that folder exists. */
    private Path besideModels(String name) {
        Path beside = models == null ? null : models.toAbsolutePath().normalize().resolveSibling(name);
        return beside != null && java.nio.file.Files.isDirectory(beside) ? beside : null;
    }
}
