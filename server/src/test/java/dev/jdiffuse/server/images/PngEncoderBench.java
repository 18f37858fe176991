package dev.jdiffuse.server.images;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Times {@link PngEncoder} against the ImageIO path it replaced (kept here, inline, for the comparison only) and
 * against itself held to one stripe (one thread): ms per image, median and fastest of the repetitions, and bytes.
 * The images: the left panel of {@code docs/inpainting-example.png} (a generated apple) scaled bilinearly to
 * 512x512 and 1024x1024, once as is (smooth, like the tiny test models' pictures) and once with +-6 levels of
 * uniform noise per channel (standing in for a real SD picture's fine texture). A measurement, not a test: run
 * from the repository root after {@code mvn -B -o -q test-compile -pl server -am}:
 *
 * <pre>java -cp server/target/classes:server/target/test-classes dev.jdiffuse.server.images.PngEncoderBench [reps]</pre>
 */
public final class PngEncoderBench {

    private PngEncoderBench() {
    }

    public static void main(String[] args) throws IOException {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        BufferedImage source = ImageIO.read(new File("docs/inpainting-example.png")).getSubimage(2, 2, 254, 254);
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "a red apple, 3d render\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1");
        text.put("jdiffuse", "{\"prompt\":\"une pomme \u2014 \u82f9\u679c\"}");
        System.out.printf(Locale.ROOT, "common pool parallelism %d, %d reps%n",
                java.util.concurrent.ForkJoinPool.getCommonPoolParallelism(), reps);
        for (int side : new int[] {512, 1024}) {
            for (boolean noise : new boolean[] {false, true}) {
                BufferedImage image = scaled(source, side, noise ? 6 : 0);
                String name = side + "x" + side + (noise ? " noisy" : " smooth");
                time(name, "ImageIO (before)", reps, () -> imageIo(image, text));
                time(name, "PngEncoder", reps, () -> PngEncoder.encode(image, text));
                time(name, "PngEncoder, one stripe", reps,
                        () -> PngEncoder.encode(image, text, Integer.MAX_VALUE));
            }
        }
    }

    /** Median and fastest wall time per image over {@code reps} after a warm-up (the host is shared). */
    private static void time(String image, String encoder, int reps, Supplier<byte[]> encode) {
        int size = 0;
        for (int i = 0; i < Math.max(5, reps / 5); i++) {
            size = encode.get().length;
        }
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            long start = System.nanoTime();
            encode.get();
            ms[i] = (System.nanoTime() - start) / 1e6;
        }
        Arrays.sort(ms);
        System.out.printf(Locale.ROOT, "%-18s %-24s median %7.2f ms  min %7.2f ms %9d bytes%n", image, encoder,
                ms[reps / 2], ms[0], size);
    }

    /** Bilinear scale to side x side, plus uniform noise of +-amplitude per channel (fixed seed). */
    static BufferedImage scaled(BufferedImage src, int side, int amplitude) {
        BufferedImage out = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
        SplittableRandom random = new SplittableRandom(13);
        double scale = (src.getWidth() - 1) / (double) (side - 1);
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                double sx = x * scale;
                double sy = y * scale;
                int x0 = Math.min((int) sx, src.getWidth() - 2);
                int y0 = Math.min((int) sy, src.getHeight() - 2);
                double fx = sx - x0;
                double fy = sy - y0;
                int rgb = 0;
                for (int shift = 16; shift >= 0; shift -= 8) {
                    double top = (1 - fx) * (src.getRGB(x0, y0) >> shift & 0xff)
                            + fx * (src.getRGB(x0 + 1, y0) >> shift & 0xff);
                    double bottom = (1 - fx) * (src.getRGB(x0, y0 + 1) >> shift & 0xff)
                            + fx * (src.getRGB(x0 + 1, y0 + 1) >> shift & 0xff);
                    int v = (int) Math.round((1 - fy) * top + fy * bottom)
                            + (amplitude == 0 ? 0 : random.nextInt(-amplitude, amplitude + 1));
                    rgb = rgb << 8 | Math.max(0, Math.min(255, v));
                }
                out.setRGB(x, y, rgb);
            }
        }
        return out;
    }

    /** The ImageIO path PngEncoder had before (text through the javax_imageio_png_1.0 tree). */
    static byte[] imageIo(BufferedImage image, Map<String, String> text) {
        String format = "javax_imageio_png_1.0";
        return ImageWriting.write("png", writer -> {
            IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image),
                    writer.getDefaultWriteParam());
            IIOMetadataNode root = new IIOMetadataNode(format);
            IIOMetadataNode tEXt = new IIOMetadataNode("tEXt");
            IIOMetadataNode iTXt = new IIOMetadataNode("iTXt");
            text.forEach((key, value) -> {
                boolean latin = java.nio.charset.StandardCharsets.ISO_8859_1.newEncoder().canEncode(value);
                IIOMetadataNode e = new IIOMetadataNode(latin ? "tEXtEntry" : "iTXtEntry");
                e.setAttribute("keyword", key);
                if (latin) {
                    e.setAttribute("value", value);
                    tEXt.appendChild(e);
                } else {
                    e.setAttribute("compressionFlag", "FALSE");
                    e.setAttribute("compressionMethod", "0");
                    e.setAttribute("languageTag", "");
                    e.setAttribute("translatedKeyword", "");
                    e.setAttribute("text", value);
                    iTXt.appendChild(e);
                }
            });
            root.appendChild(tEXt);
            root.appendChild(iTXt);
            meta.mergeTree(format, root);
            writer.write(null, new IIOImage(image, null, meta), writer.getDefaultWriteParam());
        });
    }
}
