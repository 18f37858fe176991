package dev.jdiffuse.models.textinv;

import java.util.ArrayList;
import java.util.List;

/**
 * One textual-inversion embedding (Gal et al. 2022): N learned vectors that stand in for the tokens of its name in a
 * prompt. SD 1.x files hold one table [N, 768], SD 2.x [N, 1024]; SDXL files one per text encoder ({@code clip_l}
 * [N, 768] and {@code clip_g} [N, 1280]), each table going to the encoder of its width.
 *
 * @param name what a prompt writes to use it (the file name without extension)
 * @param hash A1111's short hash: the first 12 hex digits of the file's SHA-256 (its infotext {@code TI hashes}); it
 *     also identifies the content in the prompt-encoding cache
 * @param tables [N][D] per text-encoder width, all with the same N
 */
public record TextualInversion(String name, String hash, List<float[][]> tables) {

    /** A1111 refuses nothing here, but an embedding longer than a 75-token chunk cannot be placed in one. */
    public static final int MAX_VECTORS = 75;

    public TextualInversion {
        if (tables.isEmpty()) {
            throw new TextualInversionException("embedding " + name + " has no vectors");
        }
        int n = tables.get(0).length;
        List<Integer> widths = new ArrayList<>();
        for (float[][] t : tables) {
            if (t.length != n || n == 0) {
                throw new TextualInversionException("embedding " + name + ": its tables have different vector counts");
            }
            if (widths.contains(t[0].length)) {
                throw new TextualInversionException("embedding " + name + " has two tables of width " + t[0].length);
            }
            widths.add(t[0].length);
        }
        if (n > MAX_VECTORS) {
            throw new TextualInversionException("embedding " + name + " has " + n + " vectors, more than a "
                    + MAX_VECTORS + "-token prompt chunk holds");
        }
        tables = List.copyOf(tables);
    }

    /** How many tokens it takes in a prompt (N). */
    public int vectors() {
        return tables.get(0).length;
    }

    /** The widths (D) of its tables, e.g. [768] or [768, 1280]. */
    public List<Integer> widths() {
        List<Integer> w = new ArrayList<>();
        tables.forEach(t -> w.add(t[0].length));
        return w;
    }

    /**
     * The vectors [N][width] for a text encoder of that hidden size.
     *
     * @throws TextualInversionException naming the embedding when it has no table of that width (an SD 1.x
     *     embedding on SD 2.x, or on SDXL's second encoder)
     */
    public float[][] forWidth(int width) {
        for (float[][] t : tables) {
            if (t[0].length == width) {
                return t;
            }
        }
        throw new TextualInversionException("embedding " + name + " has vectors of width " + widths()
                + ", which does not fit this model's text encoder of width " + width);
    }

    @Override
    public String toString() {
        return name + "[" + vectors() + " x " + widths() + ", " + hash + "]";
    }
}
