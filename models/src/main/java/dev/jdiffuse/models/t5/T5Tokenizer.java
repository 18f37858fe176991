package dev.jdiffuse.models.t5;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.text.SpecialTokenSplit;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * T5's SentencePiece Unigram tokenizer (Kudo and Richardson 2018), read from a tokenizers {@code tokenizer.json} and
 * matching transformers' {@code T5TokenizerFast}:
 * <ol>
 *   <li>added tokens ({@code <pad>}, {@code </s>}, {@code <unk>}, {@code <extra_id_N>}) are split out of the raw text
 *       first, leftmost-longest, and map to their ids;</li>
 *   <li>each remaining segment is normalised: the precompiled {@code nmt_nfkc} map ({@link PrecompiledCharsMap}),
 *       trailing whitespace stripped, runs of two or more spaces replaced by one {@code ▁};</li>
 *   <li>Metaspace: spaces become {@code ▁}, a {@code ▁} is prepended to the segment at the start of the text (when it
 *       does not start with one), and the segment is split before each {@code ▁};</li>
 *   <li>each word is segmented by {@link UnigramModel} (Viterbi, unknown characters to {@code <unk>}).</li>
 * </ol>
 * {@link #encodePadded} adds {@code </s>} and pads with {@code <pad>} as diffusers' SD3 pipeline calls it
 * ({@code padding="max_length", max_length, truncation=True, add_special_tokens=True}). Thread-safe.
 */
public final class T5Tokenizer {

    /** The T5 v1.1 vocabulary shipped in this jar (Apache-2.0, see LICENSE and NOTICE beside it). */
    public static final String BUNDLED_RESOURCE = "tokenizer.json.gz";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SPACE_RUNS = Pattern.compile(" {2,}");
    private static final Pattern TRAILING_WHITESPACE = Pattern.compile("\\s+$", Pattern.UNICODE_CHARACTER_CLASS);

    private final UnigramModel model;
    private final PrecompiledCharsMap charsMap;
    private final Map<String, Integer> addedTokens;
    private final List<String> addedByLength;
    private final java.util.Set<Character> addedFirstChars;
    private final String replacement;
    private final boolean prependFirst;
    private final int eosId;
    private final int padId;

    private T5Tokenizer(UnigramModel model, PrecompiledCharsMap charsMap, Map<String, Integer> addedTokens,
            String replacement, boolean prependFirst, int eosId, int padId) {
        this.model = model;
        this.charsMap = charsMap;
        this.addedTokens = Map.copyOf(addedTokens);
        List<String> byLength = new ArrayList<>(addedTokens.keySet());
        byLength.sort(Comparator.comparingInt(String::length).reversed());
        this.addedByLength = List.copyOf(byLength);
        this.addedFirstChars = byLength.stream().filter(t -> !t.isEmpty()).map(t -> t.charAt(0))
                .collect(java.util.stream.Collectors.toUnmodifiableSet());
        this.replacement = replacement;
        this.prependFirst = prependFirst;
        this.eosId = eosId;
        this.padId = padId;
    }

    /**
     * A tokenizer folder ({@code tokenizer_3/} of SD3) holding {@code tokenizer.json}, or a {@code tokenizer.json}
     * (optionally {@code .gz}) file itself.
     */
    public static T5Tokenizer load(Path folderOrFile) {
        Path file = Files.isDirectory(folderOrFile) ? folderOrFile.resolve("tokenizer.json") : folderOrFile;
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("no T5 tokenizer.json at " + file
                    + " (spiece.model alone is not read: save the tokenizer with transformers to get tokenizer.json)");
        }
        try (InputStream in = Files.newInputStream(file)) {
            return read(file.toString().endsWith(".gz") ? new GZIPInputStream(in) : in, file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The T5 v1.1 vocabulary shipped in this jar. */
    public static T5Tokenizer bundled() {
        try (InputStream in = T5Tokenizer.class.getResourceAsStream(BUNDLED_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + BUNDLED_RESOURCE + " missing from the jar");
            }
            return read(new GZIPInputStream(in), "bundled T5 v1.1 " + BUNDLED_RESOURCE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Parses a tokenizers {@code tokenizer.json} with a Unigram model. */
    public static T5Tokenizer read(InputStream json, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + source, e);
        }
        JsonNode m = root.path("model");
        if (!"Unigram".equals(m.path("type").asText())) {
            throw new ConfigException(source, "model.type", "expected Unigram, got " + m.path("type"));
        }
        if (m.path("byte_fallback").asBoolean(false)) {
            throw new ConfigException(source, "model.byte_fallback", "byte fallback is not supported");
        }
        JsonNode vocab = m.path("vocab");
        if (!vocab.isArray() || vocab.isEmpty()) {
            throw new ConfigException(source, "model.vocab", "expected [piece, score] pairs");
        }
        List<String> pieces = new ArrayList<>(vocab.size());
        double[] scores = new double[vocab.size()];
        for (int i = 0; i < vocab.size(); i++) {
            JsonNode pair = vocab.get(i);
            if (!pair.isArray() || pair.size() != 2 || !pair.get(0).isTextual() || !pair.get(1).isNumber()) {
                throw new ConfigException(source, "model.vocab", "entry " + i + " is not [piece, score]: " + pair);
            }
            pieces.add(pair.get(0).textValue());
            scores[i] = pair.get(1).doubleValue();
        }
        if (!m.path("unk_id").canConvertToInt()) {
            throw new ConfigException(source, "model.unk_id", "expected an integer");
        }
        UnigramModel model = new UnigramModel(pieces, scores, m.path("unk_id").intValue());

        Map<String, Integer> added = new HashMap<>();
        for (JsonNode t : root.path("added_tokens")) {
            String content = t.path("content").asText();
            if (!content.isEmpty()) {
                added.put(content, t.path("id").asInt());
            }
        }
        PrecompiledCharsMap charsMap = readNormalizer(root.path("normalizer"), source);
        JsonNode pre = root.path("pre_tokenizer");
        if (!"Metaspace".equals(pre.path("type").asText())) {
            throw new ConfigException(source, "pre_tokenizer.type", "expected Metaspace, got " + pre.path("type"));
        }
        String replacement = pre.path("replacement").asText("\u2581");
        String scheme = pre.has("prepend_scheme") ? pre.path("prepend_scheme").asText()
                : (pre.path("add_prefix_space").asBoolean(true) ? "always" : "never");
        if (!scheme.equals("first") && !scheme.equals("always")) {
            throw new ConfigException(source, "pre_tokenizer.prepend_scheme", "unsupported '" + scheme + "'");
        }
        if (!pre.path("split").asBoolean(true)) {
            throw new ConfigException(source, "pre_tokenizer.split", "split=false is not supported");
        }
        Integer eos = model.id("</s>");
        Integer pad = model.id("<pad>");
        if (eos == null || pad == null) {
            throw new ConfigException(source, "model.vocab", "no </s> or <pad> piece");
        }
        return new T5Tokenizer(model, charsMap, added, replacement, scheme.equals("first"), eos, pad);
    }

    /** The Precompiled map of a {@code Sequence [Precompiled, Strip(right), Replace(" {2,}", ▁)]} normalizer. */
    private static PrecompiledCharsMap readNormalizer(JsonNode n, String source) {
        List<JsonNode> steps = new ArrayList<>();
        if ("Sequence".equals(n.path("type").asText())) {
            n.path("normalizers").forEach(steps::add);
        } else if (!n.isMissingNode() && !n.isNull()) {
            steps.add(n);
        }
        PrecompiledCharsMap map = null;
        for (JsonNode s : steps) {
            switch (s.path("type").asText()) {
                case "Precompiled" -> map = new PrecompiledCharsMap(
                        Base64.getDecoder().decode(s.path("precompiled_charsmap").asText()));
                case "Strip" -> {
                    if (s.path("strip_left").asBoolean(false) || !s.path("strip_right").asBoolean(false)) {
                        throw new ConfigException(source, "normalizer", "only Strip(right) is supported: " + s);
                    }
                }
                case "Replace" -> {
                    if (!" {2,}".equals(s.path("pattern").path("Regex").asText())
                            || !"\u2581".equals(s.path("content").asText())) {
                        throw new ConfigException(source, "normalizer",
                                "only Replace(' {2,}', '\u2581') is supported: " + s);
                    }
                }
                default -> throw new ConfigException(source, "normalizer",
                        "unsupported step " + s.path("type").asText());
            }
        }
        if (map == null) {
            throw new ConfigException(source, "normalizer", "no Precompiled charsmap");
        }
        return map;
    }

    /** Token ids of {@code text}, without {@code </s>}. */
    public int[] encode(String text) {
        List<Integer> out = new ArrayList<>();
        SpecialTokenSplit.split(text, this::addedTokenAt, (segment, first) -> encodeSegment(segment, first, out),
                token -> out.add(addedTokens.get(token)));
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The pieces of {@code text} (without {@code </s>}), for inspection. */
    public List<String> pieces(String text) {
        List<String> out = new ArrayList<>();
        for (int id : encode(text)) {
            out.add(model.piece(id));
        }
        return out;
    }

    /**
     * {@code text} as diffusers' SD3 pipeline tokenises it: ids truncated to {@code maxLength - 1}, {@code </s>}
     * appended, padded with {@code <pad>} to {@code maxLength}.
     */
    public int[] encodePadded(String text, int maxLength) {
        return SpecialTokenSplit.framed(encode(text), -1, eosId, padId, maxLength);
    }

    /** {@link #encodePadded(String, int)} for a batch: [B][maxLength]. */
    public int[][] encodePadded(List<String> texts, int maxLength) {
        int[][] out = new int[texts.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = encodePadded(texts.get(i), maxLength);
        }
        return out;
    }

    /** The ids that end, pad and stand for unknown pieces. */
    public record SpecialIds(int eos, int pad, int unk) {
    }

    public SpecialIds ids() {
        return new SpecialIds(eosId, padId, model.unkId());
    }

    /** Normalisation of one segment between added tokens (tokenizers' normalizer Sequence for T5). */
    String normalize(String segment) {
        String s = charsMap.normalize(segment);
        s = TRAILING_WHITESPACE.matcher(s).replaceAll("");
        return SPACE_RUNS.matcher(s).replaceAll(replacement);
    }

    private void encodeSegment(String segment, boolean atTextStart, List<Integer> out) {
        String s = normalize(segment);
        if (s.isEmpty()) {
            return;
        }
        s = s.replace(" ", replacement);
        if ((!prependFirst || atTextStart) && !s.startsWith(replacement)) {
            s = replacement + s;
        }
        int start = 0;
        for (int i = 1; i <= s.length(); i++) {
            if (i == s.length() || s.startsWith(replacement, i)) {
                model.encode(s.substring(start, i), out);
                start = i;
            }
        }
    }

    /** The longest added token starting at {@code pos}, or null. */
    private String addedTokenAt(String text, int pos) {
        if (!addedFirstChars.contains(text.charAt(pos))) {
            return null;
        }
        for (String t : addedByLength) {
            if (text.startsWith(t, pos)) {
                return t;
            }
        }
        return null;
    }
}
