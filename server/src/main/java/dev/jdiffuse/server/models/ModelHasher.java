package dev.jdiffuse.server.models;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * SHA-256 identifying a model's weights. A single file hashes as itself (so a single-file checkpoint's hash equals
 * A1111's full SHA-256 and its first 10 digits A1111's "Model hash"); a folder hashes the bytes of its weight files
 * ({@code .safetensors}, {@code .gguf}, {@code .bin}, {@code .pt}, {@code .ckpt}) in sorted relative-path order, each
 * preceded by its relative path, so that renaming or swapping files changes the hash.
 */
public final class ModelHasher {

    private ModelHasher() {
    }

    public static String sha256(Path entry) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            if (Files.isRegularFile(entry)) {
                digest(md, entry);
            } else {
                List<Path> files;
                try (Stream<Path> s = Files.walk(entry, FileVisitOption.FOLLOW_LINKS)) {
                    files = s.filter(Files::isRegularFile).filter(ModelHasher::isWeights)
                            .sorted((a, b) -> entry.relativize(a).toString().compareTo(entry.relativize(b).toString()))
                            .toList();
                }
                for (Path f : files) {
                    md.update(entry.relativize(f).toString().replace('\\', '/').getBytes(
                            StandardCharsets.UTF_8));
                    md.update((byte) 0);
                    digest(md, f);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static boolean isWeights(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".safetensors") || n.endsWith(".gguf") || n.endsWith(".bin") || n.endsWith(".pt")
                || n.endsWith(".ckpt");
    }

    private static void digest(MessageDigest md, Path file) throws IOException {
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
    }
}
