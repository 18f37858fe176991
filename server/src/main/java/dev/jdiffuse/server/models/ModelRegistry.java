package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.Pipelines;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The models the server can generate with, by name. Filled once at start-up and read-only afterwards; closes its
 * pipelines on {@link #close()}.
 */
public final class ModelRegistry implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ModelRegistry.class);

    private final Map<String, LoadedModel> models;

    public ModelRegistry(Collection<LoadedModel> loaded) {
        Map<String, LoadedModel> m = new TreeMap<>();
        for (LoadedModel lm : loaded) {
            if (m.put(lm.name(), lm) != null) {
                throw new IllegalArgumentException("two models are named " + lm.name());
            }
        }
        this.models = Collections.unmodifiableMap(m);
    }

    /**
     * Loads every model entry of {@code folder} ({@link ModelLoaders#isModelEntry}: hidden, TAESD and config folders
     * skipped) through {@code loader}, logging each. An entry that fails to load is logged with its reason and left
     * out; the server then is not ready if none loaded.
     */
    public static ModelRegistry load(Path folder, PipelineLoader loader, String device, String dtype)
            throws IOException {
        List<Path> entries;
        try (Stream<Path> s = Files.list(folder)) {
            entries = s.filter(ModelLoaders::isModelEntry).sorted().toList();
        }
        List<LoadedModel> loaded = new ArrayList<>();
        for (Path entry : entries) {
            String name = Pipelines.nameOf(entry);
            long t0 = System.nanoTime();
            try {
                var pipeline = loader.load(entry, device, dtype);
                String hash = ModelHasher.sha256(entry);
                loaded.add(new LoadedModel(name, pipeline, hash));
                LOG.info("loaded model {} ({}, hash {}) from {} in {} ms", name, pipeline.family(),
                        hash.substring(0, 10), entry, (System.nanoTime() - t0) / 1_000_000);
            } catch (Exception | LinkageError e) {
                LOG.error("could not load model {} from {}: {}", name, entry, e.toString());
            }
        }
        if (loaded.isEmpty()) {
            LOG.warn("no model loaded from {}: the server will not be ready", folder);
        }
        return new ModelRegistry(loaded);
    }

    public Optional<LoadedModel> get(String name) {
        return Optional.ofNullable(models.get(name));
    }

    /** The model used when a request names none: the first by name. */
    public Optional<LoadedModel> defaultModel() {
        return models.values().stream().findFirst();
    }

    public Collection<LoadedModel> all() {
        return models.values();
    }

    public boolean isEmpty() {
        return models.isEmpty();
    }

    @Override
    public void close() {
        for (LoadedModel m : models.values()) {
            try {
                m.pipeline().close();
            } catch (RuntimeException e) {
                LOG.warn("closing model {} failed: {}", m.name(), e.toString());
            }
        }
    }
}
