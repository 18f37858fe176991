package dev.jdiffuse.models.clip;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The special tokens and length limit of a CLIP tokenizer, as transformers reads them from
 * {@code tokenizer_config.json} (falling back to {@code special_tokens_map.json}, then to {@code CLIPTokenizer}'s
 * defaults). SD1 pads with {@code <|endoftext|>}; SD2 and SDXL's second tokenizer pad with {@code !}.
 */
public record ClipSpecialTokens(String bos, String eos, String pad, String unk, int modelMaxLength) {

    public static final String START_OF_TEXT = "<|startoftext|>";
    public static final String END_OF_TEXT = "<|endoftext|>";
    /** CLIP's context length (the text encoder's {@code max_position_embeddings}). */
    public static final int CLIP_MAX_LENGTH = 77;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** transformers' {@code CLIPTokenizer} defaults. */
    public static ClipSpecialTokens defaults() {
        return new ClipSpecialTokens(START_OF_TEXT, END_OF_TEXT, END_OF_TEXT, END_OF_TEXT, CLIP_MAX_LENGTH);
    }

    /** Reads the tokenizer folder's {@code tokenizer_config.json} and {@code special_tokens_map.json} when present. */
    public static ClipSpecialTokens read(Path folder) {
        ClipSpecialTokens t = defaults();
        t = overlay(t, folder.resolve("special_tokens_map.json"));
        return overlay(t, folder.resolve("tokenizer_config.json"));
    }

    private static ClipSpecialTokens overlay(ClipSpecialTokens base, Path file) {
        if (!Files.isRegularFile(file)) {
            return base;
        }
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ConfigException(file.toString(), "(file)", "unreadable JSON: " + e.getMessage());
        }
        return new ClipSpecialTokens(token(n, "bos_token", base.bos, file), token(n, "eos_token", base.eos, file),
                token(n, "pad_token", base.pad, file), token(n, "unk_token", base.unk, file),
                maxLength(n, base.modelMaxLength, file));
    }

    /** A token given as a string or as an AddedToken object {@code {"content": ...}}. */
    private static String token(JsonNode root, String field, String dflt, Path file) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (v.isTextual()) {
            return v.textValue();
        }
        if (v.isObject() && v.path("content").isTextual()) {
            return v.get("content").textValue();
        }
        throw new ConfigException(file.toString(), field, "expected a token string, got " + v);
    }

    /**
     * {@code model_max_length}; transformers writes a huge sentinel (1e30) when the length is unknown, which here
     * means CLIP's 77.
     */
    private static int maxLength(JsonNode root, int dflt, Path file) {
        JsonNode v = root.get("model_max_length");
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber() || v.doubleValue() < 2) {
            throw new ConfigException(file.toString(), "model_max_length", "expected a length >= 2, got " + v);
        }
        return v.doubleValue() > Integer.MAX_VALUE ? CLIP_MAX_LENGTH : v.intValue();
    }
}
