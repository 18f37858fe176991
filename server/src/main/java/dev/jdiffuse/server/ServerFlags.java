package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
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
            + "are loaded [env JDIFFUSE_MODELS]")
    Path models;

    @Option(names = "--device", defaultValue = "auto", description = "auto|cpu|cuda (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_DEVICE]")
    String device;

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
            + "denoiser forward: jobs on one model run together while their images fit, sharing a forward per step "
            + "(default ${DEFAULT-VALUE}: one job at a time; --max-batch stays the per-request limit) "
            + "[env JDIFFUSE_BATCH_IMAGES]")
    int batchImages;

    @Option(names = "--batch-window-ms", defaultValue = "2", description = "longest wait of a job's step for the "
            + "other running jobs' steps, only while jobs share the model (default ${DEFAULT-VALUE}) "
            + "[env JDIFFUSE_BATCH_WINDOW_MS]")
    int batchWindowMs;

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
        return new ServerOptions(port, host, models, device, dtype, queueSize, Duration.ofSeconds(resultTtl), limits,
                new ServerOptions.Batching(batchImages, Duration.ofMillis(batchWindowMs)));
    }
}
