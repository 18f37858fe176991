package dev.jdiffuse.server.images;

import org.w3c.dom.Node;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;

/** Reads the {@code tEXt}/{@code iTXt} chunks of a PNG (the inverse of {@link PngEncoder}'s text). */
public final class PngText {

    private PngText() {
    }

    public static Map<String, String> read(byte[] png) {
        ImageReader reader = ImageIO.getImageReadersByFormatName("png").next();
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(png))) {
            reader.setInput(in);
            IIOMetadata meta = reader.getImageMetadata(0);
            Node root = meta.getAsTree("javax_imageio_png_1.0");
            Map<String, String> text = new LinkedHashMap<>();
            for (Node chunk = root.getFirstChild(); chunk != null; chunk = chunk.getNextSibling()) {
                String name = chunk.getNodeName();
                if (!name.equals("tEXt") && !name.equals("iTXt")) {
                    continue;
                }
                for (Node e = chunk.getFirstChild(); e != null; e = e.getNextSibling()) {
                    var attrs = e.getAttributes();
                    String key = attrs.getNamedItem("keyword").getNodeValue();
                    String value = attrs.getNamedItem(name.equals("tEXt") ? "value" : "text").getNodeValue();
                    text.put(key, value);
                }
            }
            return text;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            reader.dispose();
        }
    }
}
