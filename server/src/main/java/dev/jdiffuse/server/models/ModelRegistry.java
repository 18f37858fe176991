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
 * on first use, on each device the server drives ({@code --devices}; one by default). Each device keeps its own
 * copies: at most {@link ModelBudget} of them stay loaded on one device; loading one more there evicts (closes) that
 * device's least recently used copy that no job holds a {@link Lease} on, preferring models no queued job names
 * ({@link #demand}).
 *
 * <p>At start-up each device loads the entries in name order while they fit its budget (the devices side by side):
 * the first that loads is the default model, so readiness means a model really works and the first request is fast,
 * and a folder that fits the budget behaves as if loaded eagerly on every device (requests for it are validated at
 * once, see {@code Admission}). An entry whose loader fails is kept as {@link ModelState#FAILED} with the reason
 * (logged once, shown by {@code GET /v1/models}, given to every job that names it, on every device); the others keep
 * serving.
 *
 * <p>The folder is looked at again ({@link #refresh}; at most once a second from {@link #list} and from
 * {@link #contains} of a name not known yet), as AUTOMATIC1111's "refresh checkpoints" and ComfyUI's folder reads do:
 * an entry dropped in while the server runs is listed and loads on first use; one whose files went away is dropped
 * once no device holds it (the default model stays); a failed entry whose files changed is tried again.
 *
 * <p>Thread-safety: the slot table is guarded by this object's monitor; a load runs outside it, on the thread that
 * asked first (the job worker, never an HTTP thread); others asking for the same model on the same device wait for
 * that one load.
 */
public final class ModelRegistry implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ModelRegistry.class);

    /** One entry and its state; fields other than the first four are guarded by the registry. */
    private static final class Slot {
        final String name;
        final Path path;
        final long bytes;
        final String familyGuess;
        /** When the entry last changed on disk (its newest file for a folder), to retry a failed one that changed. */
        final long modified;
        /** The entry's copy on each device, by device index. */
        final Copy[] on;
        String error;
        ModelInfo info;

        Slot(String name, Path path, long bytes, String familyGuess, int devices) {
            this.name = name;
            this.path = path;
            this.bytes = bytes;
            this.familyGuess = familyGuess;
            this.modified = path == null ? 0 : ModelEntries.lastModified(path);
            this.on = new Copy[devices];
            for (int d = 0; d < devices; d++) {
                on[d] = new Copy();
            }
        }

        /** Loaded on some device; else loading on some; else failed; else unloaded. */
        ModelState state() {
            boolean loading = false;
            for (Copy c : on) {
                if (c.model != null) {
                    return ModelState.LOADED;
                }
                loading |= c.loading != null;
            }
            return loading ? ModelState.LOADING : error != null ? ModelState.FAILED : ModelState.UNLOADED;
        }
    }

    /** A model's copy on one device; guarded by the registry. */
    private static final class Copy {
        LoadedModel model;
        CompletableFuture<LoadedModel> loading;
        int leases;
        long lastUsed;

        boolean occupies() {
            return model != null || loading != null;
        }
    }

    /** A model pinned in memory on one device (never evicted) until closed; a job's worker holds one while it runs. */
    public final class Lease implements AutoCloseable {
        private final Copy copy;
        private final LoadedModel model;
        private boolean closed;

        private Lease(Copy copy, LoadedModel model) {
            this.copy = copy;
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
                    copy.leases--;
                }
            }
        }
    }

    /** The label of the one device of a registry of models loaded elsewhere (tests, the command line). */
    public static final String PRELOADED_DEVICE = "default";

    /** How often {@link #list} and {@link #contains} may look at the folder again. */
    private static final long RESCAN_NANOS = 1_000_000_000L;

    private final Map<String, Slot> slots = new TreeMap<>();
    /** The models folder, or null for a registry of models loaded elsewhere. */
    private final Path folder;
    /** When the folder was last listed (System.nanoTime), guarded by this. */
    private long scanned = System.nanoTime();
    private final PipelineLoader loader;
    /** The devices as the loader takes them ({@code cpu}, {@code cuda:1}, ...) and their distinct labels. */
    private final List<String> devices;
    private final List<String> labels;
    private final String dtype;
    private final ModelBudget budget;
    private volatile Supplier<Set<String>> demand = Set::of;
    private volatile String defaultName;
    private long useClock;

    /** Models already loaded (tests, the command line), on one device: never evicted; the first by name is default. */
    public ModelRegistry(Collection<LoadedModel> loaded) {
        this.folder = null;
        this.loader = null;
        this.devices = List.of(PRELOADED_DEVICE);
        this.labels = devices;
        this.dtype = null;
        this.budget = ModelBudget.UNLIMITED;
        for (LoadedModel lm : loaded) {
            Slot s = new Slot(lm.name(), null, 0, lm.pipeline().family(), 1);
            s.on[0].model = lm;
            s.info = ModelInfo.of(lm);
            if (slots.put(lm.name(), s) != null) {
                throw new IllegalArgumentException("two models are named " + lm.name());
            }
        }
        this.defaultName = slots.isEmpty() ? null : slots.keySet().iterator().next();
    }

    private ModelRegistry(Path folder, List<Path> entries, PipelineLoader loader, List<String> devices, String dtype,
            ModelBudget budget) {
        if (devices.isEmpty()) {
            throw new IllegalArgumentException("a registry needs at least one device");
        }
        this.folder = folder;
        this.loader = loader;
        this.devices = List.copyOf(devices);
        this.labels = DeviceNames.labels(devices);
        this.dtype = dtype;
        this.budget = budget;
        for (Path entry : entries) {
            Slot s = slotOf(entry);
            if (slots.putIfAbsent(s.name, s) != null) {
                LOG.warn("two entries are named {}: {} is left out", s.name, entry);
                continue;
            }
            LOG.info("found model {} ({}, {} MB of weights) at {}", s.name, s.familyGuess == null ? "family unknown "
                    + "until loaded" : s.familyGuess, s.bytes / 1_000_000, entry);
        }
    }

    private Slot slotOf(Path entry) {
        return new Slot(Pipelines.nameOf(entry), entry, ModelEntries.weightBytes(entry),
                ModelEntries.guessFamily(entry), devices.size());
    }

    /**
     * Looks at the models folder again: entries added since are listed (unloaded: they load on first use), entries
     * gone are dropped unless a device holds them or they are the default model, a failed entry whose files changed
     * gets a fresh slot (tried again on next use). Nothing for a registry without a folder.
     *
     * @return the names added and removed
     */
    public Changes refresh() {
        if (folder == null) {
            return Changes.NONE;
        }
        List<Path> entries;
        try {
            entries = ModelEntries.list(folder);
        } catch (IOException e) {
            LOG.warn("cannot list the models folder {}: {}", folder, e.toString());
            return Changes.NONE;
        }
        Map<String, Path> found = new java.util.LinkedHashMap<>();
        entries.forEach(e -> found.putIfAbsent(Pipelines.nameOf(e), e));
        Map<String, Slot> fresh = new java.util.HashMap<>();
        synchronized (this) {
            scanned = System.nanoTime();
            found.forEach((name, path) -> {
                Slot old = slots.get(name);
                if (old == null || old.error != null && old.state() == ModelState.FAILED
                        && ModelEntries.lastModified(path) != old.modified) {
                    fresh.put(name, null);
                }
            });
        }
        // the new slots' files are read (sizes, model_index.json) outside the monitor
        fresh.replaceAll((name, ignored) -> slotOf(found.get(name)));
        List<String> added = new ArrayList<>();
        List<String> removed = new ArrayList<>();
        synchronized (this) {
            fresh.forEach((name, slot) -> {
                Slot old = slots.get(name);
                if (old == null || old.error != null && old.state() == ModelState.FAILED) {
                    slots.put(name, slot);
                    added.add(name);
                    LOG.info("{} model {} ({} MB of weights) at {}", old == null ? "new" : "changed, retrying",
                            name, slot.bytes / 1_000_000, slot.path);
                }
            });
            for (java.util.Iterator<Slot> it = slots.values().iterator(); it.hasNext(); ) {
                Slot s = it.next();
                boolean held = java.util.Arrays.stream(s.on).anyMatch(Copy::occupies);
                if (!found.containsKey(s.name) && !held && !s.name.equals(defaultName)) {
                    it.remove();
                    removed.add(s.name);
                    LOG.info("model {} is gone from {}", s.name, folder);
                }
            }
        }
        return new Changes(added, removed);
    }

    /** What {@link #refresh} changed. */
    public record Changes(List<String> added, List<String> removed) {
        static final Changes NONE = new Changes(List.of(), List.of());
    }

    /** {@link #refresh} when the folder was last listed more than a second ago. */
    private void refreshIfDue() {
        boolean due;
        synchronized (this) {
            due = folder != null && System.nanoTime() - scanned >= RESCAN_NANOS;
        }
        if (due) {
            refresh();
        }
    }

    /** {@link #open(Path, PipelineLoader, List, String, ModelBudget)} on the one device {@code device}. */
    public static ModelRegistry open(Path folder, PipelineLoader loader, String device, String dtype,
            ModelBudget budget) throws IOException {
        return open(folder, loader, List.of(device), dtype, budget);
    }

    /**
     * Lists the model entries of {@code folder} ({@link ModelLoaders#isModelEntry}: hidden, TAESD and config folders
     * skipped), then on each of {@code devices} (side by side, a thread each) loads them in name order while they fit
     * {@code budget}; the first entry by name that loaded on some device is the default model. The rest load on
     * first use. When none loads, the registry is {@linkplain #isEmpty empty} and the server not ready.
     */
    public static ModelRegistry open(Path folder, PipelineLoader loader, List<String> devices, String dtype,
            ModelBudget budget) throws IOException {
        ModelRegistry r = new ModelRegistry(folder, ModelEntries.list(folder), loader, devices, dtype, budget);
        List<String> names = List.copyOf(r.slots.keySet());
        List<String> firsts = new ArrayList<>();
        if (devices.size() == 1) {
            firsts.add(r.preload(names, 0));
        } else {
            List<CompletableFuture<String>> loads = new ArrayList<>();
            for (int d = 0; d < devices.size(); d++) {
                int device = d;
                CompletableFuture<String> f = new CompletableFuture<>();
                Thread t = new Thread(() -> {
                    try {
                        f.complete(r.preload(names, device));
                    } catch (Throwable e) {
                        f.completeExceptionally(e);
                    }
                }, "jdiffuse-load-" + r.labels.get(d));
                t.setDaemon(true);
                t.start();
                loads.add(f);
            }
            loads.forEach(f -> firsts.add(f.join()));
        }
        r.defaultName = firsts.stream().filter(java.util.Objects::nonNull).min(Comparator.naturalOrder())
                .orElse(null);
        if (r.defaultName == null) {
            LOG.warn("no model could be loaded from {}: the server will not be ready", folder);
        }
        return r;
    }

    /** Loads {@code names} in order on {@code device} while they fit beside the first; that first one's name. */
    private String preload(List<String> names, int device) {
        String first = null;
        for (String name : names) {
            if (first != null && !fitsBeside(name, device)) {
                break;
            }
            try (Lease ignored = acquire(name, device)) {
                if (first == null) {
                    first = name;
                }
            } catch (ModelUnavailableException e) {
                // logged by the load; try the next entry
            }
        }
        return first;
    }

    /** Names of the models that queued or running jobs will ask for: eviction keeps them if it can. */
    public void demand(Supplier<Set<String>> namesInDemand) {
        this.demand = namesInDemand;
    }

    /** Whether an entry has this name; a name not known yet makes the folder be looked at again (if due). */
    public boolean contains(String name) {
        synchronized (this) {
            if (slots.containsKey(name)) {
                return true;
            }
        }
        refreshIfDue();
        synchronized (this) {
            return slots.containsKey(name);
        }
    }

    /** The labels of the devices, by index (distinct: {@link DeviceNames#labels}). */
    public List<String> devices() {
        return labels;
    }

    /** The model if it is loaded now on some device, the lowest first (not pinned: a job takes a {@link Lease}). */
    public synchronized Optional<LoadedModel> loaded(String name) {
        Slot s = slots.get(name);
        if (s != null) {
            for (Copy c : s.on) {
                if (c.model != null) {
                    return Optional.of(c.model);
                }
            }
        }
        return Optional.empty();
    }

    /** The model if it is loaded now on {@code device} (not pinned). */
    public synchronized Optional<LoadedModel> loaded(String name, int device) {
        Slot s = slots.get(name);
        return Optional.ofNullable(s == null ? null : s.on[device].model);
    }

    /** For each device, the names of the models loaded or loading there now: where a job finds its model. */
    public synchronized List<Set<String>> held() {
        List<Set<String>> out = new ArrayList<>();
        for (int d = 0; d < labels.size(); d++) {
            Set<String> names = new java.util.HashSet<>();
            for (Slot s : slots.values()) {
                if (s.on[d].occupies()) {
                    names.add(s.name);
                }
            }
            out.add(names);
        }
        return out;
    }

    /** How many models are loaded on {@code device} now. */
    public synchronized int loadedCount(int device) {
        return (int) slots.values().stream().filter(s -> s.on[device].model != null).count();
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

    /** Every entry in name order with its state and the devices it is loaded on (the folder looked at, if due). */
    public List<ModelListing> list() {
        refreshIfDue();
        return listing();
    }

    private synchronized List<ModelListing> listing() {
        List<ModelListing> out = new ArrayList<>();
        for (Slot s : slots.values()) {
            List<String> on = new ArrayList<>();
            for (int d = 0; d < s.on.length; d++) {
                if (s.on[d].model != null) {
                    on.add(labels.get(d));
                }
            }
            out.add(new ModelListing(s.name, s.path, s.info != null ? s.info.family() : s.familyGuess, s.bytes,
                    s.state(), s.error, s.info, on));
        }
        return out;
    }

    /** The models loaded now, each once (its copy on the lowest device that has one). */
    public synchronized List<LoadedModel> loadedModels() {
        List<LoadedModel> out = new ArrayList<>();
        for (Slot s : slots.values()) {
            for (Copy c : s.on) {
                if (c.model != null) {
                    out.add(c.model);
                    break;
                }
            }
        }
        return out;
    }

    /** {@link #acquire(String, int)} on the first device. */
    public Lease acquire(String name) throws ModelUnavailableException {
        return acquire(name, 0);
    }

    /**
     * Pins the model {@code name} on {@code device}, loading it there first if needed (on this thread, or waiting
     * for the thread that is already loading it there). Blocks for the load: call it from the job worker, not from
     * an HTTP thread.
     *
     * @throws ModelUnavailableException the model failed to load (now or earlier, on any device)
     * @throws IllegalArgumentException no entry has this name
     */
    public Lease acquire(String name, int device) throws ModelUnavailableException {
        while (true) {
            Set<String> wanted = demand.get();
            Slot s;
            Copy c;
            CompletableFuture<LoadedModel> pending;
            List<LoadedModel> evicted = List.of();
            boolean mine = false;
            synchronized (this) {
                s = slots.get(name);
                if (s == null) {
                    throw new IllegalArgumentException("no model is named " + name);
                }
                c = s.on[device];
                if (c.model != null) {
                    c.leases++;
                    c.lastUsed = ++useClock;
                    return new Lease(c, c.model);
                }
                if (s.error != null) {
                    throw new ModelUnavailableException(name, s.error);
                }
                if (c.loading == null) {
                    if (loader == null) {
                        throw new ModelUnavailableException(name, "it was closed and has no loader");
                    }
                    evicted = makeRoom(s, device, wanted);
                    c.loading = new CompletableFuture<>();
                    mine = true;
                }
                pending = c.loading;
            }
            evicted.forEach(ModelRegistry::closeQuietly);
            if (mine) {
                load(s, device, pending);
            }
            pending.exceptionally(t -> null).join();
            // loaded (pinned on the next pass), failed (thrown on the next pass) or already evicted again (reloaded)
        }
    }

    /** Whether the model {@code name} can load on {@code device} without evicting one. */
    private synchronized boolean fitsBeside(String name, int device) {
        Slot target = slots.get(name);
        return budget.fits(occupiedCount(target, device) + 1, occupiedBytes(target, device) + target.bytes);
    }

    private int occupiedCount(Slot except, int device) {
        return (int) slots.values().stream().filter(s -> s != except && s.on[device].occupies()).count();
    }

    private long occupiedBytes(Slot except, int device) {
        return slots.values().stream().filter(s -> s != except && s.on[device].occupies()).mapToLong(s -> s.bytes)
                .sum();
    }

    /**
     * Evicts {@code device}'s least recently used idle models, those no queued job wants first, until
     * {@code target} fits there.
     */
    private List<LoadedModel> makeRoom(Slot target, int device, Set<String> wanted) {
        List<LoadedModel> evicted = new ArrayList<>();
        while (true) {
            int count = occupiedCount(target, device) + 1;
            long bytes = occupiedBytes(target, device) + target.bytes;
            if (budget.fits(count, bytes)) {
                return evicted;
            }
            Slot victim = slots.values().stream().filter(s -> s.on[device].model != null && s.on[device].leases == 0)
                    .min(Comparator.comparing((Slot s) -> wanted.contains(s.name))
                            .thenComparingLong(s -> s.on[device].lastUsed))
                    .orElse(null);
            if (victim == null) {
                LOG.warn("loading model {} on {} exceeds the budget ({} models, {} bytes): every model loaded there "
                        + "is in use", target.name, labels.get(device), count, bytes);
                return evicted;
            }
            LOG.info("evicting model {} from {} (least recently used) to load {}", victim.name, labels.get(device),
                    target.name);
            evicted.add(victim.on[device].model);
            victim.on[device].model = null;
        }
    }

    private void load(Slot s, int device, CompletableFuture<LoadedModel> pending) {
        long t0 = System.nanoTime();
        ImagePipeline pipeline = null;
        Copy c = s.on[device];
        try {
            pipeline = loader.load(s.path, devices.get(device), dtype);
            String hash = ModelHasher.sha256(s.path);
            LoadedModel m = new LoadedModel(s.name, pipeline, hash);
            synchronized (this) {
                c.model = m;
                s.info = ModelInfo.of(m);
                c.loading = null;
                c.lastUsed = ++useClock;
            }
            LOG.info("loaded model {} ({}, hash {}) on {} from {} in {} ms", s.name, pipeline.family(),
                    hash.substring(0, 10), labels.get(device), s.path, (System.nanoTime() - t0) / 1_000_000);
            pending.complete(m);
        } catch (Throwable t) {
            if (pipeline != null) {
                closeQuietly(new LoadedModel(s.name, pipeline, ""));
            }
            synchronized (this) {
                s.error = firstLine(t);
                c.loading = null;
            }
            LOG.error("could not load model {} on {} from {}: {}", s.name, labels.get(device), s.path, t.toString());
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
        List<LoadedModel> open = new ArrayList<>();
        synchronized (this) {
            for (Slot s : slots.values()) {
                for (Copy c : s.on) {
                    if (c.model != null) {
                        open.add(c.model);
                        c.model = null;
                    }
                }
            }
        }
        open.forEach(ModelRegistry::closeQuietly);
    }
}
