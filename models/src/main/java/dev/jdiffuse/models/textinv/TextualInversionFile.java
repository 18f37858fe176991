package dev.jdiffuse.models.textinv;

import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.TensorInfo;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a textual-inversion {@code .safetensors} file in the layouts AUTOMATIC1111 and diffusers'
 * {@code load_textual_inversion} read:
 * <ul>
 *   <li>A1111's safetensors: {@code emb_params} [N, D];</li>
 *   <li>A1111's {@code string_to_param} dictionary flattened: a {@code *} (or {@code string_to_param.*}) key;</li>
 *   <li>SDXL: {@code clip_l} [N, 768] and {@code clip_g} [N, 1280], one table per text encoder;</li>
 *   <li>diffusers' {@code learned_embeds.safetensors}: one tensor under any name (the placeholder token), [D] or
 *       [N, D].</li>
 * </ul>
 * A [D] tensor is one vector. Pickled files ({@code .pt}, {@code .bin}, {@code .ckpt}) are refused: unpickling runs
 * code from the file. Anything else is refused, naming the file and its keys.
 */
public final class TextualInversionFile {

    private static final Set<String> PICKLE = Set.of("pt", "bin", "ckpt", "pth", "pkl");

    private TextualInversionFile() {
    }

    /** Whether {@code file} has an extension this reader takes ({@code .safetensors}). */
    public static boolean isEmbeddingFile(Path file) {
        return extension(file).equals("safetensors");
    }

    /** The name a prompt uses: the file name without its extension. */
    public static String nameOf(Path file) {
        String f = file.getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot > 0 ? f.substring(0, dot) : f;
    }

    /** @throws TextualInversionException naming the file when it is pickled, unreadable or of no known layout */
    public static TextualInversion read(Path file) {
        String ext = extension(file);
        if (PICKLE.contains(ext)) {
            throw new TextualInversionException(file.getFileName() + ": pickled embeddings (." + ext
                    + ") are not loaded, since unpickling runs code from the file; convert it to .safetensors");
        }
        if (!ext.equals("safetensors")) {
            throw new TextualInversionException(file.getFileName() + ": not a .safetensors file");
        }
        String name = nameOf(file);
        List<float[][]> tables = new ArrayList<>();
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Set<String> keys = new TreeSet<>(st.names());
            if (keys.contains("clip_l") || keys.contains("clip_g")) {
                for (String k : List.of("clip_l", "clip_g")) {
                    if (keys.contains(k)) {
                        tables.add(table(st, k, file));
                    }
                }
            } else if (keys.contains("emb_params")) {
                tables.add(table(st, "emb_params", file));
            } else if (keys.contains("*") || keys.contains("string_to_param.*")) {
                tables.add(table(st, keys.contains("*") ? "*" : "string_to_param.*", file));
            } else if (keys.size() == 1) {
                tables.add(table(st, keys.iterator().next(), file)); // diffusers: {"<token>": [D] or [N, D]}
            } else {
                throw new TextualInversionException(file.getFileName() + ": no known embedding layout (expected "
                        + "emb_params, clip_l/clip_g, string_to_param's * or a single tensor), keys " + keys);
            }
        } catch (TextualInversionException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TextualInversionException(file.getFileName() + ": " + e.getMessage());
        }
        try {
            return new TextualInversion(name, shortHash(file), tables);
        } catch (TextualInversionException e) {
            throw new TextualInversionException(file.getFileName() + ": " + e.getMessage());
        }
    }

    /** The tensor as [N][D] floats; [D] is one vector. */
    private static float[][] table(SafetensorsFile st, String key, Path file) {
        TensorInfo info = st.info(key);
        long[] shape = info.shape();
        if (shape.length < 1 || shape.length > 2 || info.numel() == 0) {
            throw new TextualInversionException(file.getFileName() + ": tensor " + key + " has shape "
                    + java.util.Arrays.toString(shape) + ", expected [N, D] or [D]");
        }
        int n = shape.length == 1 ? 1 : (int) shape[0];
        int d = (int) shape[shape.length - 1];
        float[] flat = st.toFloatArray(key);
        float[][] rows = new float[n][d];
        for (int i = 0; i < n; i++) {
            System.arraycopy(flat, i * d, rows[i], 0, d);
        }
        return rows;
    }

    /** A1111's {@code shorthash}: SHA-256 of the file, first 12 hex digits. */
    static String shortHash(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) {
                sha.update(buf, 0, r);
            }
            return HexFormat.of().formatHex(sha.digest()).substring(0, 12);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String extension(Path file) {
        String f = file.getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot < 0 ? "" : f.substring(dot + 1).toLowerCase(Locale.ROOT);
    }
}
