package dev.jdiffuse.server.images;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.metadata.IIOInvalidTreeException;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Encodes PNGs with text chunks through ImageIO's native PNG metadata tree ({@code javax_imageio_png_1.0}).
 * A value that Latin-1 can hold goes into a {@code tEXt} chunk (as A1111 and Pillow write {@code parameters});
 * anything else into an uncompressed UTF-8 {@code iTXt} chunk, which is what Pillow falls back to as well.
 */
public final class PngEncoder {

    private static final String FORMAT = "javax_imageio_png_1.0";

    private PngEncoder() {
    }

    public static byte[] encode(BufferedImage image, Map<String, String> text) {
        return ImageWriting.write("png", writer -> {
            IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image),
                    writer.getDefaultWriteParam());
            if (!text.isEmpty()) {
                meta.mergeTree(FORMAT, textTree(text));
            }
            writer.write(null, new IIOImage(image, null, meta), writer.getDefaultWriteParam());
        });
    }

    private static IIOMetadataNode textTree(Map<String, String> text) throws IIOInvalidTreeException {
        IIOMetadataNode root = new IIOMetadataNode(FORMAT);
        IIOMetadataNode tEXt = new IIOMetadataNode("tEXt");
        IIOMetadataNode iTXt = new IIOMetadataNode("iTXt");
        text.forEach((key, value) -> {
            if (StandardCharsets.ISO_8859_1.newEncoder().canEncode(value)) {
                IIOMetadataNode e = new IIOMetadataNode("tEXtEntry");
                e.setAttribute("keyword", key);
                e.setAttribute("value", value);
                tEXt.appendChild(e);
            } else {
                IIOMetadataNode e = new IIOMetadataNode("iTXtEntry");
                e.setAttribute("keyword", key);
                e.setAttribute("compressionFlag", "FALSE");
                e.setAttribute("compressionMethod", "0");
                e.setAttribute("languageTag", "");
                e.setAttribute("translatedKeyword", "");
                e.setAttribute("text", value);
                iTXt.appendChild(e);
            }
        });
        if (tEXt.getLength() > 0) {
            root.appendChild(tEXt);
        }
        if (iTXt.getLength() > 0) {
            root.appendChild(iTXt);
        }
        return root;
    }

    /** Encodes without text chunks (previews). */
    public static byte[] encode(BufferedImage image) {
        return encode(image, Map.of());
    }
}
