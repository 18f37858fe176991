package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.models.DeviceNames;
import dev.jdiffuse.server.models.ModelBudget;
import dev.jdiffuse.server.models.WarmUp;
import picocli.CommandLine;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.Set;

/**
 * Start-up options of the server, as {@link ServerFlags} parses them from flags and {@code JDIFFUSE_*} variables.
 *
 * @param port TCP port (default 8765; 0 picks a free one)
 * @param host address to bind (default 127.0.0.1: loopback only)
 * @param models folder whose entries (diffusers pipeline folders or single-file checkpoints) are served; the default
 *     one loads at start-up, the others on first use
 * @param devices the devices that generate, each with its own loaded models, job workers and image budget
 *     ({@code --devices}, else the one {@code --device}): {@code auto|cpu|cuda|cuda:N}, {@code auto} only alone; a
 *     device may appear twice ({@link DeviceNames})
 * @param dtype {@code auto|fp32|fp16|bf16}
 * @param queueSize jobs that may wait behind the running one before submissions get 429
 * @param resultTtl how long finished jobs and their images are kept
 * @param limits request bounds
 * @param safety authentication, budgets, slow-client limits and outputs
 * @param budget how many models (and bytes of weights) stay loaded at once; others load on first use
 * @param loras folder of LoRA {@code .safetensors} files (each named after its file), or null for none
 * @param batching how many images concurrent jobs may have in one denoiser forward ({@link Batching})
 * @param t5Device where SD 3 / 3.5 and FLUX keep their T5 encoder apart, in float32 ({@code --t5-device}: {@code cpu},
 *     {@code cuda:N}), or null to keep it with the model
 * @param webhookUrl where finished jobs are POSTed ({@code --webhook-url}), or null for none
 * @param webhookSecret a file whose content (trimmed) signs the webhook's events with HMAC-SHA256, or null
 * @param embeddings folder of textual-inversion {@code .safetensors} files (each named after its file), or null
 */
public record ServerOptions(int port, String host, Path models, List<String> devices, String dtype, int queueSize,
        Duration resultTtl, Limits limits, Safety safety, ModelBudget budget,
        Path loras, Batching batching, String t5Device, java.net.URI webhookUrl, Path webhookSecret,
        Path embeddings) {

    /**
     * Continuous batching: jobs on one model run concurrently while their images fit in {@code images}, and their
     * compatible denoiser calls share forwards; {@code window} is the longest a call waits for the other running
     * jobs' calls. {@code images} 1: one job at a time, as before. Jobs that finish together decode in one VAE call
     * of at most {@code decodeImages} images (1: each alone, as before), waiting at most {@code window} for each other.
     * {@code warmup}: batch sizes each model runs once right after it loads ({@link WarmUp}); empty: none; null
     * ({@code auto}): one image on a GPU, none on the CPU.
     */
    public record Batching(int images, Duration window, int decodeImages, List<Integer> warmup) {

        public static final Batching OFF = new Batching(1, Duration.ofMillis(2));

        /** Decoding as many images at once as a forward holds. */
        public Batching(int images, Duration window) {
            this(images, window, images);
        }

        /** No warm-up. */
        public Batching(int images, Duration window, int decodeImages) {
            this(images, window, decodeImages, List.of());
        }

        public Batching {
            warmup = warmup == null ? null : List.copyOf(warmup);
            if (images < 1 || images > 256) {
                throw new IllegalArgumentException("--batch-images must be 1..256, got " + images);
            }
            if (decodeImages < 1 || decodeImages > 256) {
                throw new IllegalArgumentException("--batch-decode-images must be 1..256, got " + decodeImages);
            }
            if (window.isNegative() || window.compareTo(Duration.ofSeconds(1)) > 0) {
                throw new IllegalArgumentException("--batch-window-ms must be 0..1000, got " + window.toMillis());
            }
        }
    }

    public static final int DEFAULT_PORT = 8765;

    private static final Set<String> DTYPES = Set.of("auto", "fp32", "fp16", "bf16");

    public ServerOptions {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be 0..65535, got " + port);
        }
        devices = List.copyOf(devices);
        if (devices.isEmpty() || devices.size() > DeviceNames.MAX_DEVICES) {
            throw new IllegalArgumentException("--devices must list 1.." + DeviceNames.MAX_DEVICES + " devices, got "
                    + devices.size());
        }
        for (String d : devices) {
            if (!DeviceNames.valid(d) || (d.equals("auto") && devices.size() > 1)) {
                throw new IllegalArgumentException("--device must be one of auto|cpu|cuda|cuda:N (auto only alone), "
                        + "got " + d);
            }
        }
        if (!DTYPES.contains(dtype)) {
            throw new IllegalArgumentException("--dtype must be one of auto|fp32|fp16|bf16, got " + dtype);
        }
        if (queueSize < 1) {
            throw new IllegalArgumentException("--queue-size must be >= 1, got " + queueSize);
        }
        if (webhookUrl != null && (webhookUrl.getHost() == null || !List.of("http", "https").contains(
                String.valueOf(webhookUrl.getScheme()).toLowerCase(java.util.Locale.ROOT)))) {
            throw new IllegalArgumentException("--webhook-url must be an http(s) URL with a host, got " + webhookUrl);
        }
        if (webhookSecret != null && webhookUrl == null) {
            throw new IllegalArgumentException("--webhook-secret-file needs --webhook-url");
        }
        if (t5Device != null && (!DeviceNames.valid(t5Device) || t5Device.equals("auto"))) {
            throw new IllegalArgumentException("--t5-device must be cpu|cuda|cuda:N, got " + t5Device);
        }
    }

    /** Defaults suited to tests: any free port, loopback, no model folder. */
    public static ServerOptions defaults() {
        return new ServerOptions(DEFAULT_PORT, "127.0.0.1", null, List.of("auto"), "auto", 16, Duration.ofHours(1),
                Limits.DEFAULTS, Safety.DEFAULTS, new ModelBudget(ServerFlags.DEFAULT_MAX_LOADED_MODELS, 0), null,
                Batching.OFF, null, null, null, null);
    }

    public ServerOptions withPort(int p) {
        return with(c -> c.port = p);
    }

    public ServerOptions withQueueSize(int q) {
        return with(c -> c.queueSize = q);
    }

    public ServerOptions withResultTtl(Duration ttl) {
        return with(c -> c.resultTtl = ttl);
    }

    public ServerOptions withLimits(Limits l) {
        return with(c -> c.limits = l);
    }

    public ServerOptions withSafety(Safety s) {
        return with(c -> c.safety = s);
    }

    public ServerOptions withBudget(ModelBudget b) {
        return with(c -> c.budget = b);
    }

    public ServerOptions withHost(String h) {
        return with(c -> c.host = h);
    }

    public ServerOptions withLoras(Path folder) {
        return with(c -> c.loras = folder);
    }

    public ServerOptions withEmbeddings(Path folder) {
        return with(c -> c.embeddings = folder);
    }

    public ServerOptions withDevices(List<String> d) {
        return with(c -> c.devices = d);
    }

    public ServerOptions withT5Device(String where) {
        return with(c -> c.t5Device = where);
    }

    /** These options POSTing finished jobs to {@code url}, signed with {@code secret}'s content when not null. */
    public ServerOptions withWebhook(java.net.URI url, Path secret) {
        return with(c -> {
            c.webhookUrl = url;
            c.webhookSecret = secret;
        });
    }

    public ServerOptions withBatching(Batching b) {
        return with(c -> c.batching = b);
    }

    /** The first device (the only one unless {@code --devices} lists several). */
    public String device() {
        return devices.get(0);
    }

    /** These options with what {@code change} sets on a copy of their fields (the {@code withX} methods). */
    private ServerOptions with(Consumer<Fields> change) {
        Fields c = new Fields(this);
        change.accept(c);
        return new ServerOptions(c.port, c.host, c.models, c.devices, c.dtype, c.queueSize, c.resultTtl, c.limits,
                c.safety, c.budget, c.loras, c.batching, c.t5Device, c.webhookUrl, c.webhookSecret,
                c.embeddings);
    }

    /** The options' fields, writable, for {@link #with}: one place that lists them all besides the record. */
    private static final class Fields {
        int port;
        String host;
        Path models;
        List<String> devices;
        String dtype;
        int queueSize;
        Duration resultTtl;
        Limits limits;
        Safety safety;
        ModelBudget budget;
        Path loras;
        Batching batching;
        String t5Device;
        java.net.URI webhookUrl;
        Path webhookSecret;
        Path embeddings;

        Fields(ServerOptions o) {
            port = o.port;
            host = o.host;
            models = o.models;
            devices = o.devices;
            dtype = o.dtype;
            queueSize = o.queueSize;
            resultTtl = o.resultTtl;
            limits = o.limits;
            safety = o.safety;
            budget = o.budget;
            loras = o.loras;
            batching = o.batching;
            t5Device = o.t5Device;
            webhookUrl = o.webhookUrl;
            webhookSecret = o.webhookSecret;
            embeddings = o.embeddings;
        }
    }

    /** Whether the bind address is loopback only (127.0.0.0/8, ::1, localhost). */
    public boolean loopbackOnly() {
        String h = host.toLowerCase(java.util.Locale.ROOT);
        return h.equals("localhost") || h.startsWith("127.") || h.equals("::1") || h.equals("[::1]");
    }

    /** Parses {@code args} over {@code env} ({@link ServerFlags}); an IllegalArgumentException names a bad flag. */
    public static ServerOptions parse(List<String> args, Map<String, String> env) {
        ServerFlags flags = new ServerFlags();
        CommandLine cl = new CommandLine(flags).setDefaultValueProvider(ServerFlags.fromEnvironment(env));
        try {
            cl.parseArgs(args.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        return flags.toOptions();
    }

    /** The options' help text. */
    public static String usage() {
        return new CommandLine(new ServerFlags()).getUsageMessage(CommandLine.Help.Ansi.OFF);
    }
}
