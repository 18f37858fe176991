package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.Pipelines;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * The models the server can generate with, by name: every entry of the models folder, listed at start-up and loaded
 * on first use. At most {@link ModelBudget} of them stay loaded; loading one more evicts (closes) the least recently
 * used model that no job holds a {@link Lease} on, preferring models no queued job names ({@link #demand}).
 *
 * <p>At start-up the entries load in name order while they fit the budget: the first that loads is the default model,
 * so readiness means a model really works and the first request is fast, and a folder that fits the budget behaves
 * as if loaded eagerly (requests for it are validated at once, see {@code Admission}). An entry whose loader fails is kept as {@link ModelState#FAILED} with the
 * reason (logged once, shown by {@code GET /v1/models}, given to every job that names it); the others keep serving.
 *
 * <p>Thread-safety: the slot table is guarded by this object's monitor; a load runs outside it, on the thread that
 * asked first (the job worker, never an HTTP thread); others asking for the same model wait for that one load.
 */
public final class ModelRegistry implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ModelRegistry.class);

    /** One entry and its state; fields other than the first four are guarded by the registry. */
    private static final class Slot {
        final String name;
        final Path path;
        final long bytes;
        final String familyGuess;
        LoadedModel model;
        CompletableFuture<LoadedModel> loading;
        String error;
        ModelInfo info;
        int leases;
        long lastUsed;

        Slot(String name, Path path, long bytes, String familyGuess) {
            this.name = name;
            this.path = path;
            this.bytes = bytes;
            this.familyGuess = familyGuess;
        }

        ModelState state() {
            return model != null ? ModelState.LOADED : loading != null ? ModelState.LOADING
                    : error != null ? ModelState.FAILED : ModelState.UNLOADED;
        }

        boolean occupies() {
            return model != null || loading != null;
        }
    }

    /** A model pinned in memory (never evicted) until closed; the job worker holds one while it generates. */
    public final class Lease implements AutoCloseable {
        private final Slot slot;
        private final LoadedModel model;
        private boolean closed;

        private Lease(Slot slot, LoadedModel model) {
            this.slot = slot;
            this.model = model;
        }

        public LoadedModel model() {
            return model;
        }

        @Override
        public void close() {
            synchronized (ModelRegistry.this) {
                if (!closed) {
                    closed = true;
                    slot.leases--;
                }
            }
        }
    }

    private final Map<String, Slot> slots = new TreeMap<>();
    private final PipelineLoader loader;
    private final String device;
    private final String dtype;
    private final ModelBudget budget;
    private volatile Supplier<Set<String>> demand = Set::of;
    private volatile String defaultName;
    private long useClock;

    /** Models already loaded (tests, the command line): never evicted, the first by name is the default. */
    public ModelRegistry(Collection<LoadedModel> loaded) {
        this.loader = null;
        this.device = null;
        this.dtype = null;
        this.budget = ModelBudget.UNLIMITED;
        for (LoadedModel lm : loaded) {
            Slot s = new Slot(lm.name(), null, 0, lm.pipeline().family());
            s.model = lm;
            s.info = ModelInfo.of(lm);
            if (slots.put(lm.name(), s) != null) {
                throw new IllegalArgumentException("two models are named " + lm.name());
            }
        }
        this.defaultName = slots.isEmpty() ? null : slots.keySet().iterator().next();
    }

    private ModelRegistry(List<Path> entries, PipelineLoader loader, String device, String dtype,
            ModelBudget budget) {
        this.loader = loader;
        this.device = device;
        this.dtype = dtype;
        this.budget = budget;
        for (Path entry : entries) {
            String name = Pipelines.nameOf(entry);
            Slot s = new Slot(name, entry, ModelEntries.weightBytes(entry), ModelEntries.guessFamily(entry));
            if (slots.putIfAbsent(name, s) != null) {
                LOG.warn("two entries are named {}: {} is left out", name, entry);
                continue;
            }
            LOG.info("found model {} ({}, {} MB of weights) at {}", name, s.familyGuess == null ? "family unknown "
                    + "until loaded" : s.familyGuess, s.bytes / 1_000_000, entry);
        }
    }

    /**
     * Lists the model entries of {@code folder} ({@link ModelLoaders#isModelEntry}: hidden, TAESD and config folders
     * skipped), then loads them in name order while they fit {@code budget} (at least one that loads: the default
     * model). The rest load on first use. When none loads, the registry is {@linkplain #isEmpty empty} and the
     * server not ready.
     */
    public static ModelRegistry open(Path folder, PipelineLoader loader, String device, String dtype,
            ModelBudget budget) throws IOException {
        ModelRegistry r = new ModelRegistry(ModelEntries.list(folder), loader, device, dtype, budget);
        for (String name : List.copyOf(r.slots.keySet())) {
            if (r.defaultName != null && !r.fitsBeside(name)) {
                break;
            }
            try (Lease ignored = r.acquire(name)) {
                if (r.defaultName == null) {
                    r.defaultName = name;
                }
            } catch (ModelUnavailableException e) {
                // logged by the load; try the next entry
            }
        }
        if (r.defaultName == null) {
            LOG.warn("no model could be loaded from {}: the server will not be ready", folder);
        }
        return r;
    }

    /** Names of the models that queued or running jobs will ask for: eviction keeps them if it can. */
    public void demand(Supplier<Set<String>> namesInDemand) {
        this.demand = namesInDemand;
    }

    public synchronized boolean contains(String name) {
        return slots.containsKey(name);
    }

    /** The model if it is loaded now (not pinned: a job takes a {@link Lease} before running). */
    public synchronized Optional<LoadedModel> loaded(String name) {
        Slot s = slots.get(name);
        return Optional.ofNullable(s == null ? null : s.model);
    }

    /** Why the model could not be loaded, if it could not. */
    public synchronized Optional<String> failure(String name) {
        Slot s = slots.get(name);
        return Optional.ofNullable(s == null ? null : s.error);
    }

    /** The model used when a request names none: the first entry by name that loaded at start-up. */
    public Optional<String> defaultName() {
        return Optional.ofNullable(defaultName);
    }

    /** Whether no model can serve: the folder had no entry, or none of them loaded at start-up. */
    public boolean isEmpty() {
        return defaultName == null;
    }

    /** Every entry in name order with its state. */
    public synchronized List<ModelListing> list() {
        List<ModelListing> out = new ArrayList<>();
        for (Slot s : slots.values()) {
            out.add(new ModelListing(s.name, s.path, s.info != null ? s.info.family() : s.familyGuess, s.bytes,
                    s.state(), s.error, s.info));
        }
        return out;
    }

    /** The models loaded now. */
    public synchronized List<LoadedModel> loadedModels() {
        return slots.values().stream().filter(s -> s.model != null).map(s -> s.model).toList();
    }

    /**
     * Pins the model {@code name}, loading it first if needed (on this thread, or waiting for the thread that is
     * already loading it). Blocks for the load: call it from the job worker, not from an HTTP thread.
     *
     * @throws ModelUnavailableException the model failed to load (now or earlier)
     * @throws IllegalArgumentException no entry has this name
     */
    public Lease acquire(String name) throws ModelUnavailableException {
        while (true) {
            Set<String> wanted = demand.get();
            Slot s;
            CompletableFuture<LoadedModel> pending;
            List<LoadedModel> evicted = List.of();
            boolean mine = false;
            synchronized (this) {
                s = slots.get(name);
                if (s == null) {
                    throw new IllegalArgumentException("no model is named " + name);
                }
                if (s.model != null) {
                    s.leases++;
                    s.lastUsed = ++useClock;
                    return new Lease(s, s.model);
                }
                if (s.error != null) {
                    throw new ModelUnavailableException(name, s.error);
                }
                if (s.loading == null) {
                    if (loader == null) {
                        throw new ModelUnavailableException(name, "it was closed and has no loader");
                    }
                    evicted = makeRoom(s, wanted);
                    s.loading = new CompletableFuture<>();
                    mine = true;
                }
                pending = s.loading;
            }
            evicted.forEach(ModelRegistry::closeQuietly);
            if (mine) {
                load(s, pending);
            }
            pending.exceptionally(t -> null).join();
            // loaded (pinned on the next pass), failed (thrown on the next pass) or already evicted again (reloaded)
        }
    }

    /** Whether the model {@code name} can load without evicting one. */
    private synchronized boolean fitsBeside(String name) {
        Slot target = slots.get(name);
        return budget.fits(occupiedCount(target) + 1, occupiedBytes(target) + target.bytes);
    }

    private int occupiedCount(Slot except) {
        return (int) slots.values().stream().filter(s -> s != except && s.occupies()).count();
    }

    private long occupiedBytes(Slot except) {
        return slots.values().stream().filter(s -> s != except && s.occupies()).mapToLong(s -> s.bytes).sum();
    }

    /** Evicts least recently used idle models, those no queued job wants first, until {@code target} fits. */
    private List<LoadedModel> makeRoom(Slot target, Set<String> wanted) {
        List<LoadedModel> evicted = new ArrayList<>();
        while (true) {
            int count = occupiedCount(target) + 1;
            long bytes = occupiedBytes(target) + target.bytes;
            if (budget.fits(count, bytes)) {
                return evicted;
            }
            Slot victim = slots.values().stream().filter(s -> s.model != null && s.leases == 0)
                    .min(Comparator.comparing((Slot s) -> wanted.contains(s.name)).thenComparingLong(s -> s.lastUsed))
                    .orElse(null);
            if (victim == null) {
                LOG.warn("loading model {} exceeds the budget ({} models, {} bytes): every loaded model is in use",
                        target.name, count, bytes);
                return evicted;
            }
            LOG.info("evicting model {} (least recently used) to load {}", victim.name, target.name);
            evicted.add(victim.model);
            victim.model = null;
        }
    }

    private void load(Slot s, CompletableFuture<LoadedModel> pending) {
        long t0 = System.nanoTime();
        ImagePipeline pipeline = null;
        try {
            pipeline = loader.load(s.path, device, dtype);
            String hash = ModelHasher.sha256(s.path);
            LoadedModel m = new LoadedModel(s.name, pipeline, hash);
            synchronized (this) {
                s.model = m;
                s.info = ModelInfo.of(m);
                s.loading = null;
                s.lastUsed = ++useClock;
            }
            LOG.info("loaded model {} ({}, hash {}) from {} in {} ms", s.name, pipeline.family(),
                    hash.substring(0, 10), s.path, (System.nanoTime() - t0) / 1_000_000);
            pending.complete(m);
        } catch (Throwable t) {
            if (pipeline != null) {
                closeQuietly(new LoadedModel(s.name, pipeline, ""));
            }
            synchronized (this) {
                s.error = firstLine(t);
                s.loading = null;
            }
            LOG.error("could not load model {} from {}: {}", s.name, s.path, t.toString());
            pending.completeExceptionally(t);
            if (t instanceof VirtualMachineError e && !(t instanceof OutOfMemoryError)) {
                throw e;
            }
        }
    }

    /** The reason for a client: the first line of the message (engine messages carry native traces after it). */
    private static String firstLine(Throwable t) {
        String m = t.getMessage();
        if (m == null || m.isBlank()) {
            return t.getClass().getSimpleName();
        }
        m = m.strip();
        int nl = m.indexOf('\n');
        return nl > 0 ? m.substring(0, nl) : m;
    }

    private static void closeQuietly(LoadedModel m) {
        try {
            m.pipeline().close();
        } catch (RuntimeException e) {
            LOG.warn("closing model {} failed: {}", m.name(), e.toString());
        }
    }

    @Override
    public void close() {
        List<LoadedModel> open;
        synchronized (this) {
            open = loadedModels();
            slots.values().forEach(s -> s.model = null);
        }
        open.forEach(ModelRegistry::closeQuietly);
    }
}
