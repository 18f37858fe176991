package dev.jdiffuse.server.loras;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The two hashes a LoRA file is known by, from one read of the file:
 * <ul>
 *   <li>{@code sha256}: of the whole file (model sites' "SHA256"; its first 10 digits are their "AutoV2");</li>
 *   <li>{@code addnet}: of the tensor data only, after the 8-byte length and the JSON header (kohya's
 *       {@code addnet_hash_safetensors}), so editing the metadata keeps it. AUTOMATIC1111 writes its first 12 digits
 *       as the LoRA's hash in {@code Lora hashes} ({@code network.py}: {@code shorthash = hash[0:12]}), which model
 *       sites call "AutoV3".</li>
 * </ul>
 */
public record LoraHashes(String sha256, String addnet) {

    /** AUTOMATIC1111's short hash length for LoRAs. */
    public static final int SHORT = 12;

    /** The short hash written into image metadata. */
    public String shortHash() {
        return addnet.substring(0, SHORT);
    }

    public static LoraHashes of(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest whole = MessageDigest.getInstance("SHA-256");
            MessageDigest data = MessageDigest.getInstance("SHA-256");
            byte[] length = in.readNBytes(8);
            whole.update(length);
            long skip = length.length == 8 ? ByteBuffer.wrap(length).order(ByteOrder.LITTLE_ENDIAN).getLong() : 0;
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                whole.update(buf, 0, n);
                int header = (int) Math.max(0, Math.min(n, skip));
                skip -= header;
                data.update(buf, header, n - header);
            }
            return new LoraHashes(HexFormat.of().formatHex(whole.digest()), HexFormat.of().formatHex(data.digest()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
