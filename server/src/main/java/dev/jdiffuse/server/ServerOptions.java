package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Start-up options. Every flag {@code --some-name VALUE} (or {@code --some-name=VALUE}) has the environment
 * equivalent {@code JDIFFUSE_SOME_NAME}; a flag wins over the environment, the environment over the default.
 *
 * @param port TCP port (default 8765; 0 picks a free one)
 * @param host address to bind (default 127.0.0.1: loopback only)
 * @param models folder whose entries (diffusers pipeline folders or single-file checkpoints) are loaded at start-up
 * @param device {@code auto|cpu|cuda}
 * @param dtype {@code auto|fp32|fp16|bf16}
 * @param queueSize jobs that may wait behind the running one before submissions get 429
 * @param resultTtl how long finished jobs and their images are kept
 * @param limits request bounds
 */
public record ServerOptions(int port, String host, Path models, String device, String dtype, int queueSize,
        Duration resultTtl, Limits limits) {

    public static final int DEFAULT_PORT = 8765;

    /** Flag name (without dashes) to its one-line description, in the order {@code --help} prints them. */
    public static final Map<String, String> FLAGS = flags();

    private static Map<String, String> flags() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("port", "TCP port (default " + DEFAULT_PORT + ", 0 = any free port)");
        m.put("host", "address to bind (default 127.0.0.1)");
        m.put("models", "folder whose entries (diffusers folders or single-file checkpoints) are loaded");
        m.put("device", "auto|cpu|cuda (default auto)");
        m.put("dtype", "auto|fp32|fp16|bf16 (default auto)");
        m.put("queue-size", "jobs waiting behind the running one before 429 (default 16)");
        m.put("result-ttl", "seconds finished jobs and images are kept (default 3600)");
        m.put("max-side", "largest width or height (default " + Limits.DEFAULTS.maxSide() + ")");
        m.put("max-pixels", "largest width*height (default " + Limits.DEFAULTS.maxPixels() + ")");
        m.put("max-steps", "most sampler steps (default " + Limits.DEFAULTS.maxSteps() + ")");
        m.put("max-batch", "most images per request (default " + Limits.DEFAULTS.maxBatch() + ")");
        m.put("max-prompt-chars", "longest prompt (default " + Limits.DEFAULTS.maxPromptChars() + ")");
        m.put("max-body-bytes", "largest JSON body (default " + Limits.DEFAULTS.maxBodyBytes() + ")");
        m.put("max-upload-bytes", "largest upload (default " + Limits.DEFAULTS.maxUploadBytes() + ")");
        m.put("max-upload-pixels", "most pixels an upload may declare (default "
                + Limits.DEFAULTS.maxUploadPixels() + ")");
        m.put("max-upload-side", "longest side an upload may declare (default " + Limits.DEFAULTS.maxUploadSide() + ")");
        return m;
    }

    private static final Set<String> DEVICES = Set.of("auto", "cpu", "cuda");
    private static final Set<String> DTYPES = Set.of("auto", "fp32", "fp16", "bf16");

    public ServerOptions {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be 0..65535, got " + port);
        }
        if (!DEVICES.contains(device)) {
            throw new IllegalArgumentException("--device must be one of auto|cpu|cuda, got " + device);
        }
        if (!DTYPES.contains(dtype)) {
            throw new IllegalArgumentException("--dtype must be one of auto|fp32|fp16|bf16, got " + dtype);
        }
        if (queueSize < 1) {
            throw new IllegalArgumentException("--queue-size must be >= 1, got " + queueSize);
        }
    }

    /** Defaults suited to tests: any free port, loopback, no model folder. */
    public static ServerOptions defaults() {
        return new ServerOptions(DEFAULT_PORT, "127.0.0.1", null, "auto", "auto", 16, Duration.ofHours(1),
                Limits.DEFAULTS);
    }

    public ServerOptions withPort(int p) {
        return new ServerOptions(p, host, models, device, dtype, queueSize, resultTtl, limits);
    }

    public ServerOptions withQueueSize(int q) {
        return new ServerOptions(port, host, models, device, dtype, q, resultTtl, limits);
    }

    public ServerOptions withResultTtl(Duration ttl) {
        return new ServerOptions(port, host, models, device, dtype, queueSize, ttl, limits);
    }

    public ServerOptions withLimits(Limits l) {
        return new ServerOptions(port, host, models, device, dtype, queueSize, resultTtl, l);
    }

    /** Parses {@code args} over {@code env}; throws IllegalArgumentException naming the bad flag. */
    public static ServerOptions parse(List<String> args, Map<String, String> env) {
        Map<String, String> values = new LinkedHashMap<>();
        for (String flag : FLAGS.keySet()) {
            String v = env.get("JDIFFUSE_" + flag.toUpperCase(Locale.ROOT).replace('-', '_'));
            if (v != null && !v.isBlank()) {
                values.put(flag, v.trim());
            }
        }
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + a + " (flags start with --)");
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else if (i + 1 < args.size()) {
                value = args.get(++i);
            } else {
                throw new IllegalArgumentException("--" + name + " needs a value");
            }
            if (!FLAGS.containsKey(name)) {
                throw new IllegalArgumentException("unknown flag --" + name);
            }
            values.put(name, value);
        }
        ServerOptions d = defaults();
        Limits l = Limits.DEFAULTS;
        Limits limits = new Limits(intOf(values, "max-side", l.maxSide()), longOf(values, "max-pixels", l.maxPixels()),
                intOf(values, "max-steps", l.maxSteps()), intOf(values, "max-batch", l.maxBatch()),
                intOf(values, "max-prompt-chars", l.maxPromptChars()),
                longOf(values, "max-body-bytes", l.maxBodyBytes()),
                longOf(values, "max-upload-bytes", l.maxUploadBytes()),
                longOf(values, "max-upload-pixels", l.maxUploadPixels()),
                intOf(values, "max-upload-side", l.maxUploadSide()));
        String models = values.get("models");
        return new ServerOptions(intOf(values, "port", d.port()), values.getOrDefault("host", d.host()),
                models == null ? null : Path.of(models), values.getOrDefault("device", d.device()),
                values.getOrDefault("dtype", d.dtype()), intOf(values, "queue-size", d.queueSize()),
                Duration.ofSeconds(longOf(values, "result-ttl", d.resultTtl().toSeconds())), limits);
    }

    private static int intOf(Map<String, String> values, String flag, int fallback) {
        return Math.toIntExact(longOf(values, flag, fallback));
    }

    private static long longOf(Map<String, String> values, String flag, long fallback) {
        String v = values.get(flag);
        if (v == null) {
            return fallback;
        }
        try {
            long n = Long.parseLong(v);
            if (n < 0) {
                throw new IllegalArgumentException("--" + flag + " must not be negative, got " + v);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + flag + " must be a whole number, got " + v);
        }
    }

    /** The usage text for {@code --help}. */
    public static String usage() {
        StringBuilder sb = new StringBuilder("usage: java -jar jdiffuse-server.jar [--flag value]...\n");
        FLAGS.forEach((flag, text) -> sb.append(String.format(Locale.ROOT, "  --%-18s %s  [env JDIFFUSE_%s]%n", flag,
                text, flag.toUpperCase(Locale.ROOT).replace('-', '_'))));
        return sb.toString();
    }
}
