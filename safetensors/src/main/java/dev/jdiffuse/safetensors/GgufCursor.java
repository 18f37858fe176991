package dev.jdiffuse.safetensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Sequential little-endian reads of a GGUF header through a file channel, buffered. Every read first checks that the
 * bytes exist, so a truncated file fails with a {@link SafetensorsException} naming the file, the offset and what was
 * being read, and a forged length is compared against the bytes left before anything is allocated.
 */
final class GgufCursor {

    private static final int BUFFER = 1 << 16;

    private final String file;
    private final FileChannel channel;
    private final long size;
    private final ByteBuffer buf = ByteBuffer.allocate(BUFFER).order(ByteOrder.LITTLE_ENDIAN);
    /** File offset of {@code buf}'s first byte. */
    private long bufStart;
    /** Where the next read starts. */
    private long position;

    GgufCursor(String file, FileChannel channel, long size) {
        this.file = file;
        this.channel = channel;
        this.size = size;
        buf.limit(0);
    }

    long position() {
        return position;
    }

    long remaining() {
        return size - position;
    }

    /** Fails unless {@code n} more bytes exist; {@code what} names the field for the message. */
    void need(long n, String what) {
        if (n < 0 || n > remaining()) {
            throw new SafetensorsException(file + ": truncated GGUF header: " + what + " needs " + Long.toUnsignedString(n)
                    + " bytes at offset " + position + " but the file has " + size + " bytes");
        }
    }

    private ByteBuffer window(int n, String what) {
        need(n, what);
        long off = position - bufStart;
        if (off < 0 || off + n > buf.limit()) {
            buf.clear();
            bufStart = position;
            try {
                while (buf.position() < Math.min(BUFFER, remaining())) {
                    int r = channel.read(buf, bufStart + buf.position());
                    if (r < 0) {
                        break;
                    }
                }
            } catch (IOException e) {
                throw new SafetensorsException(file + ": read failed at offset " + position + ": " + e, e);
            }
            buf.flip();
            if (buf.limit() < n) {
                throw new SafetensorsException(file + ": truncated GGUF header: " + what + " at offset " + position);
            }
            off = 0;
        }
        buf.position((int) off);
        position += n;
        return buf;
    }

    int u8(String what) {
        return window(1, what).get() & 0xff;
    }

    byte i8(String what) {
        return window(1, what).get();
    }

    short i16(String what) {
        return window(2, what).getShort();
    }

    int i32(String what) {
        return window(4, what).getInt();
    }

    long u32(String what) {
        return window(4, what).getInt() & 0xffffffffL;
    }

    long i64(String what) {
        return window(8, what).getLong();
    }

    float f32(String what) {
        return window(4, what).getFloat();
    }

    double f64(String what) {
        return window(8, what).getDouble();
    }

    /** A {@code gguf_string}: u64 byte length, then UTF-8 bytes (no terminator). */
    String string(String what) {
        long n = i64(what + " length");
        need(n, what);
        if (n > Integer.MAX_VALUE - 8) {
            throw new SafetensorsException(file + ": " + what + " at offset " + position + " claims " + n
                    + " bytes, more than a string holds (corrupt file?)");
        }
        byte[] bytes = new byte[(int) n];
        int done = 0;
        while (done < bytes.length) {
            int step = Math.min(BUFFER, bytes.length - done);
            window(step, what).get(bytes, done, step);
            done += step;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsException(file + ": " + what + " at offset " + (position - n) + " is not UTF-8");
        }
    }
}
