package dev.jdiffuse.server.images;

import javax.imageio.ImageIO;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/** Encodes an image to bytes with an ImageIO writer, owning the writer's and the streams' lifetimes. */
public final class ImageWriting {

    /** What to do with the writer, whose output is already set. */
    @FunctionalInterface
    public interface Body {
        void write(ImageWriter writer) throws IOException;
    }

    private ImageWriting() {
    }

    /** The bytes {@code body} writes with ImageIO's first writer of {@code format} ("png", "jpeg"). */
    public static byte[] write(String format, Body body) {
        ImageWriter writer = ImageIO.getImageWritersByFormatName(format).next();
        try (ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            writer.setOutput(out);
            body.write(writer);
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            writer.dispose();
        }
    }
}
