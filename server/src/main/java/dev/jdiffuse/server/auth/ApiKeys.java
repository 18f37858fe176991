package dev.jdiffuse.server.auth;

import dev.jdiffuse.server.jobs.Priority;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The API keys of {@code --api-keys FILE}: one key a line, {@code name:sha256hex[:option,option...]}, where
 * {@code sha256hex} is the SHA-256 of the key's UTF-8 bytes in hex (the file never holds a key itself), and the
 * options are {@code admin} (sees and cancels every job), {@code queued=N} (jobs queued or running at once),
 * {@code images_per_hour=N} and {@code priority=high|normal|low}. Blank lines and {@code #} comments are skipped.
 * Lookups hash the presented key and compare in constant time with every entry.
 */
public final class ApiKeys {

    private record Entry(byte[] hash, Caller caller) {
    }

    private final List<Entry> entries;

    private ApiKeys(List<Entry> entries) {
        this.entries = List.copyOf(entries);
    }

    public static ApiKeys load(Path file) throws IOException {
        return parse(Files.readAllLines(file, StandardCharsets.UTF_8), file.toString());
    }

    /** Parses the file's lines; an IllegalArgumentException names the line at fault. */
    public static ApiKeys parse(List<String> lines, String source) {
        List<Entry> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String where = source + " line " + (i + 1);
            String[] parts = line.split(":", 3);
            if (parts.length < 2 || !parts[0].matches("[A-Za-z0-9._@-]{1,64}")) {
                throw new IllegalArgumentException(where + ": expected name:sha256hex[:options], the name of "
                        + "letters, digits and ._@-");
            }
            if (!parts[1].matches("[0-9a-fA-F]{64}")) {
                throw new IllegalArgumentException(where + ": the key's SHA-256 must be 64 hex digits "
                        + "(java -jar jdiffuse-server.jar hash-key NAME makes a key and its line)");
            }
            if (!names.add(parts[0])) {
                throw new IllegalArgumentException(where + ": the name " + parts[0] + " is used twice");
            }
            boolean admin = false;
            int queued = 0;
            int perHour = 0;
            Priority priority = Priority.NORMAL;
            if (parts.length == 3 && !parts[2].isBlank()) {
                for (String opt : parts[2].split(",")) {
                    String o = opt.strip();
                    try {
                        if (o.equals("admin")) {
                            admin = true;
                        } else if (o.startsWith("queued=")) {
                            queued = Integer.parseInt(o.substring(7));
                        } else if (o.startsWith("images_per_hour=")) {
                            perHour = Integer.parseInt(o.substring(16));
                        } else if (o.startsWith("priority=")) {
                            priority = Priority.parse(o.substring(9));
                        } else {
                            throw new IllegalArgumentException("unknown option");
                        }
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(where + ": bad option '" + o + "' (admin, queued=N, "
                                + "images_per_hour=N, priority=high|normal|low)");
                    }
                    if (queued < 0 || perHour < 0) {
                        throw new IllegalArgumentException(where + ": quotas must not be negative");
                    }
                }
            }
            out.add(new Entry(HexFormat.of().parseHex(parts[1].toLowerCase()),
                    new Caller(parts[0], admin, queued, perHour, priority)));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(source + " holds no key");
        }
        return new ApiKeys(out);
    }

    /** The caller whose key this is, or empty; every entry is compared, in constant time each. */
    public Optional<Caller> authenticate(String key) {
        if (key == null || key.isEmpty() || key.length() > 512) {
            return Optional.empty();
        }
        byte[] h = sha256(key);
        Caller found = null;
        for (Entry e : entries) {
            if (MessageDigest.isEqual(h, e.hash()) && found == null) {
                found = e.caller();
            }
        }
        return Optional.ofNullable(found);
    }

    public int size() {
        return entries.size();
    }

    public static byte[] sha256(String key) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String sha256Hex(String key) {
        return HexFormat.of().formatHex(sha256(key));
    }

    /** A new random key: 32 bytes from a SecureRandom, base64url without padding (43 characters). */
    public static String newKey() {
        byte[] b = new byte[32];
        new SecureRandom().nextBytes(b);
        return "jd_" + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }
}
