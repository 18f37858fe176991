package dev.jdiffuse.server.embeddings;

import dev.jdiffuse.models.textinv.EmbeddingSet;
import dev.jdiffuse.models.textinv.TextualInversion;
import dev.jdiffuse.models.textinv.TextualInversionFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The textual-inversion embeddings of the {@code --embeddings} folder, each named after its file without extension
 * (sub-folders are searched too, as AUTOMATIC1111 does; the first of two equal names by path wins). Prompts use them
 * by name, so no request says which it needs: {@link #snapshot} looks at the folder again on every call (a listing;
 * an unchanged file, by size and modification time, is not read again) and returns the same {@link EmbeddingSet}
 * while nothing changed, so a file dropped in, replaced or removed while the server runs counts from the next request.
 * Pickled files ({@code .pt}, {@code .bin}) and files that fail to read are listed in {@link #skipped} with the reason.
 */
public final class EmbeddingLibrary {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddingLibrary.class);
    private static final int MAX_DEPTH = 8;
    private static final Set<String> CANDIDATES = Set.of("safetensors", "pt", "bin");

    /** No folder: no embeddings. */
    public static final EmbeddingLibrary NONE = new EmbeddingLibrary(null);

    private final Path folder;
    private final Map<Path, Entry> byPath = new HashMap<>();
    private EmbeddingSet set = EmbeddingSet.EMPTY;
    private Map<String, String> skipped = Map.of();

    /** One file as last read: its embedding, or why it was skipped. */
    private record Entry(long size, long modified, TextualInversion embedding, String error) {
    }

    /** @param folder the {@code --embeddings} folder, or null for none */
    public EmbeddingLibrary(Path folder) {
        this.folder = folder;
    }

    public Path folder() {
        return folder;
    }

    /** The embeddings the folder holds now. */
    public synchronized EmbeddingSet snapshot() {
        if (folder == null || !Files.isDirectory(folder)) {
            return EmbeddingSet.EMPTY;
        }
        List<Path> files;
        try (Stream<Path> s = Files.walk(folder, MAX_DEPTH)) {
            files = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
                    .filter(p -> CANDIDATES.contains(extension(p))).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, TextualInversion> names = new TreeMap<>();
        Map<String, String> refused = new TreeMap<>();
        for (Path f : files) {
            Entry e = entry(f);
            String name = TextualInversionFile.nameOf(f);
            if (e.embedding() == null) {
                refused.putIfAbsent(name, e.error());
            } else if (names.putIfAbsent(name, e.embedding()) != null) {
                LOG.warn("two embeddings are named {}: {} is not used", name, f);
            }
        }
        byPath.keySet().retainAll(files);
        refused.keySet().removeAll(names.keySet());
        EmbeddingSet now = new EmbeddingSet(new ArrayList<>(names.values()));
        if (!now.equals(set)) {
            set = now; // a new instance only on change, so its tokenized names stay cached
        }
        skipped = Map.copyOf(refused);
        return set;
    }

    /** Files of the folder that are not usable, by name, with the reason (after the last {@link #snapshot}). */
    public synchronized Map<String, String> skipped() {
        return skipped;
    }

    private Entry entry(Path f) {
        try {
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            Entry known = byPath.get(f);
            if (known != null && known.size() == a.size() && known.modified() == a.lastModifiedTime().toMillis()) {
                return known;
            }
            Entry e;
            try {
                e = new Entry(a.size(), a.lastModifiedTime().toMillis(), TextualInversionFile.read(f), null);
            } catch (RuntimeException ex) {
                LOG.error("could not read embedding {}: {}", f, ex.getMessage());
                e = new Entry(a.size(), a.lastModifiedTime().toMillis(), null, ex.getMessage());
            }
            byPath.put(f, e);
            return e;
        } catch (IOException e) {
            return new Entry(-1, -1, null, f.getFileName() + ": " + e.getMessage());
        }
    }

    private static String extension(Path p) {
        String f = p.getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot < 0 ? "" : f.substring(dot + 1).toLowerCase(Locale.ROOT);
    }
}
