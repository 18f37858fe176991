package dev.jdiffuse.server.loras;

import dev.jdiffuse.models.lora.LoraFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The LoRAs of the {@code --loras} folder, each named after its file without {@code .safetensors} (sub-folders are
 * searched too, as AUTOMATIC1111 does; the first of two equal names by path wins, the other is logged). Only headers
 * are read (names and shapes, {@link LoraFile}); the hashes are computed on first use and kept. The folder is read
 * again by {@link #refresh}, and when a request names a LoRA not yet known, so files dropped in while the server runs
 * are found; an unchanged file keeps its entry (and the pipelines keep it applied).
 */
public final class LoraLibrary {

    private static final Logger LOG = LoggerFactory.getLogger(LoraLibrary.class);
    private static final String SUFFIX = ".safetensors";
    private static final int MAX_DEPTH = 8;

    /** No folder: every name is unknown. */
    public static final LoraLibrary NONE = new LoraLibrary(null);

    private final Path folder;
    private Map<String, Entry> byName = Map.of();
    private final Map<Path, Entry> byPath = new HashMap<>();

    /** One LoRA: its name, header and (once computed) hashes. */
    public static final class Entry {
        private final String name;
        private final LoraFile file;
        private final long size;
        private final long modified;
        private volatile LoraHashes hashes;

        Entry(String name, LoraFile file, long size, long modified) {
            this.name = name;
            this.file = file;
            this.size = size;
            this.modified = modified;
        }

        public String name() {
            return name;
        }

        public LoraFile file() {
            return file;
        }

        /** Computed on first call (one read of the file). */
        public LoraHashes hashes() {
            LoraHashes h = hashes;
            if (h == null) {
                h = LoraHashes.of(file.path());
                hashes = h;
            }
            return h;
        }
    }

    /** @param folder the {@code --loras} folder, or null for none */
    public LoraLibrary(Path folder) {
        this.folder = folder;
        refresh();
    }

    public Path folder() {
        return folder;
    }

    /** Reads the folder again; files that fail to read are logged with the reason and left out. */
    public synchronized void refresh() {
        if (folder == null || !Files.isDirectory(folder)) {
            return;
        }
        List<Path> files;
        try (Stream<Path> s = Files.walk(folder, MAX_DEPTH)) {
            files = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
                    .filter(p -> p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(SUFFIX)).sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, Entry> names = new TreeMap<>();
        for (Path f : files) {
            Entry e = entry(f);
            if (e == null) {
                continue;
            }
            Entry first = names.putIfAbsent(e.name(), e);
            if (first != null && first != e) {
                LOG.warn("two LoRAs are named {}: {} is used, {} is not", e.name(), first.file().path(), f);
            }
        }
        byPath.keySet().retainAll(files);
        byName = Map.copyOf(names);
    }

    private Entry entry(Path f) {
        try {
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            Entry known = byPath.get(f);
            if (known != null && known.size == a.size() && known.modified == a.lastModifiedTime().toMillis()) {
                return known;
            }
            String n = f.getFileName().toString();
            Entry e = new Entry(n.substring(0, n.length() - SUFFIX.length()), LoraFile.read(f), a.size(),
                    a.lastModifiedTime().toMillis());
            byPath.put(f, e);
            return e;
        } catch (IOException | RuntimeException e) {
            LOG.error("could not read LoRA {}: {}", f, e.getMessage());
            byPath.remove(f);
            return null;
        }
    }

    /** The LoRA of this name, reading the folder again once if it is not known. */
    public Optional<Entry> get(String name) {
        Entry e;
        synchronized (this) {
            e = byName.get(name);
        }
        if (e == null && folder != null) {
            refresh();
            synchronized (this) {
                e = byName.get(name);
            }
        }
        return Optional.ofNullable(e);
    }

    /** Every LoRA, sorted by name. */
    public synchronized Collection<Entry> all() {
        return byName.values().stream().sorted((a, b) -> a.name().compareTo(b.name())).toList();
    }
}
