package dev.jdiffuse.models.clip;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.text.SpecialTokenSplit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer (Radford et al. 2021; Sennrich et al. 2016), matching transformers'
 * {@code CLIPTokenizer} without ftfy:
 * <ol>
 *   <li>special tokens (bos, eos, unk, pad and any added token) are split out of the raw text first and map to their
 *       ids, as transformers' added-token trie does;</li>
 *   <li>each remaining piece is normalised: Unicode NFC, runs of whitespace to one space, lower case;</li>
 *   <li>pre-tokenised with CLIP's regex (contractions, letter runs, single digits, punctuation runs);</li>
 *   <li>each word's UTF-8 bytes are mapped to characters ({@link ByteLevelAlphabet}) and merged by BPE, the last
 *       symbol carrying the end-of-word marker {@code </w>}, lowest merge rank first.</li>
 * </ol>
 * Loads from {@code vocab.json} + {@code merges.txt} or from a tokenizers {@code tokenizer.json}. Thread-safe.
 */
public final class ClipTokenizer {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String END_OF_WORD = "</w>";
    private static final Pattern WHITESPACE = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern WORDS = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);
    private static final int CACHE_LIMIT = 100_000;

    private final Map<String, Integer> vocab;
    private final Map<String, Integer> mergeRanks;
    private final List<String> splitTokens;
    private final ClipSpecialTokens specials;
    private final int bosId;
    private final int eosId;
    private final int padId;
    private final int unkId;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param vocab token -> id, including the special tokens
     * @param merges merge pairs in rank order (rank 0 merges first)
     * @param addedTokens further tokens split out of the text before normalisation (besides the special ones)
     */
    public ClipTokenizer(Map<String, Integer> vocab, List<String[]> merges, Set<String> addedTokens,
            ClipSpecialTokens specials) {
        this.vocab = Map.copyOf(vocab);
        Map<String, Integer> ranks = new HashMap<>();
        for (int r = 0; r < merges.size(); r++) {
            ranks.put(merges.get(r)[0] + " " + merges.get(r)[1], r);
        }
        this.mergeRanks = Map.copyOf(ranks);
        this.specials = specials;
        this.bosId = idOf(specials.bos(), "bos_token");
        this.eosId = idOf(specials.eos(), "eos_token");
        this.padId = idOf(specials.pad(), "pad_token");
        this.unkId = idOf(specials.unk(), "unk_token");
        Set<String> split = new LinkedHashSet<>(addedTokens);
        split.addAll(List.of(specials.bos(), specials.eos(), specials.pad(), specials.unk()));
        for (String t : split) {
            idOf(t, "added token");
        }
        List<String> longestFirst = new ArrayList<>(split);
        longestFirst.sort(Comparator.comparingInt(String::length).reversed());
        this.splitTokens = List.copyOf(longestFirst);
    }

    /**
     * Loads a tokenizer folder (a diffusers pipeline's {@code tokenizer/}): {@code tokenizer.json} when present, else
     * {@code vocab.json} + {@code merges.txt}; special tokens from {@code tokenizer_config.json}.
     */
    public static ClipTokenizer load(Path folder) {
        return load(folder, ClipSpecialTokens.read(folder));
    }

    /** As {@link #load(Path)} with the given special tokens instead of the folder's. */
    public static ClipTokenizer load(Path folder, ClipSpecialTokens specials) {
        Path fast = folder.resolve("tokenizer.json");
        if (Files.isRegularFile(fast)) {
            return fromTokenizerJson(fast, specials);
        }
        return fromVocabAndMerges(folder.resolve("vocab.json"), folder.resolve("merges.txt"), specials);
    }

    /** The original layout: {@code vocab.json} (token -> id) and {@code merges.txt} ("#version" line, then "a b"). */
    public static ClipTokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt, ClipSpecialTokens specials) {
        Map<String, Integer> vocab = readVocab(readJson(vocabJson), vocabJson, "(root)");
        List<String[]> merges = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(mergesTxt, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + mergesTxt, e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) {
                continue;
            }
            merges.add(pair(line, mergesTxt, i + 1));
        }
        return new ClipTokenizer(vocab, merges, Set.of(), specials);
    }

    /**
     * The Hugging Face tokenizers layout: {@code model.vocab}, {@code model.merges} (as "a b" strings or [a, b]
     * pairs) and {@code added_tokens}.
     */
    public static ClipTokenizer fromTokenizerJson(Path tokenizerJson, ClipSpecialTokens specials) {
        JsonNode root = readJson(tokenizerJson);
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText("BPE"))) {
            throw new ConfigException(tokenizerJson.toString(), "model.type", "expected BPE, got " + model.get("type"));
        }
        Map<String, Integer> vocab = readVocab(model.path("vocab"), tokenizerJson, "model.vocab");
        List<String[]> merges = new ArrayList<>();
        int n = 0;
        for (JsonNode m : model.path("merges")) {
            n++;
            if (m.isTextual()) {
                merges.add(pair(m.textValue(), tokenizerJson, n));
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                merges.add(new String[] {m.get(0).textValue(), m.get(1).textValue()});
            } else {
                throw new ConfigException(tokenizerJson.toString(), "model.merges", "entry " + n + " is " + m);
            }
        }
        Set<String> added = new LinkedHashSet<>();
        for (JsonNode t : root.path("added_tokens")) {
            String content = t.path("content").asText();
            vocab.putIfAbsent(content, t.path("id").asInt());
            added.add(content);
        }
        return new ClipTokenizer(vocab, merges, added, specials);
    }

    /** Token ids of {@code text} without BOS/EOS or padding (transformers' {@code add_special_tokens=False}). */
    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        SpecialTokenSplit.split(text, this::specialAt, (segment, first) -> encodePlain(segment, ids),
                special -> ids.add(vocab.get(special)));
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * {@code [BOS] + encode(text)[:maxLength - 2] + [EOS]}, padded with the pad id to {@code maxLength} (transformers'
     * {@code padding="max_length", truncation=True}).
     */
    public int[] encodePadded(String text, int maxLength) {
        return SpecialTokenSplit.framed(encode(text), bosId, eosId, padId, maxLength);
    }

    /** {@link #encodePadded(String, int)} to the tokenizer's {@code model_max_length} (77 for CLIP). */
    public int[] encodePadded(String text) {
        return encodePadded(text, specials.modelMaxLength());
    }

    public ClipSpecialTokens specialTokens() {
        return specials;
    }

    /** The ids that frame and pad every sequence. */
    public record SpecialIds(int bos, int eos, int pad) {
    }

    public SpecialIds ids() {
        return new SpecialIds(bosId, eosId, padId);
    }

    public int vocabSize() {
        return vocab.size();
    }

    private String specialAt(String text, int i) {
        for (String s : splitTokens) {
            if (text.startsWith(s, i)) {
                return s;
            }
        }
        return null;
    }

    private void encodePlain(String text, List<Integer> out) {
        String normal = WHITESPACE.matcher(Normalizer.normalize(text, Normalizer.Form.NFC)).replaceAll(" ").strip()
                .toLowerCase(Locale.ROOT);
        Matcher m = WORDS.matcher(normal);
        while (m.find()) {
            for (int id : wordIds(ByteLevelAlphabet.encode(m.group()))) {
                out.add(id);
            }
        }
    }

    private int[] wordIds(String word) {
        int[] hit = cache.get(word);
        if (hit != null) {
            return hit;
        }
        List<String> symbols = bpe(word);
        int[] ids = new int[symbols.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = vocab.getOrDefault(symbols.get(i), unkId);
        }
        if (cache.size() >= CACHE_LIMIT) {
            cache.clear();
        }
        cache.put(word, ids);
        return ids;
    }

    /** Greedy BPE: repeatedly merge every occurrence of the adjacent pair with the lowest merge rank. */
    private List<String> bpe(String word) {
        List<String> symbols = new ArrayList<>(word.length());
        for (int i = 0; i < word.length() - 1; i++) {
            symbols.add(String.valueOf(word.charAt(i)));
        }
        symbols.add(word.charAt(word.length() - 1) + END_OF_WORD);
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer r = mergeRanks.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    first = symbols.get(i);
                    second = symbols.get(i + 1);
                }
            }
            if (first == null) {
                break;
            }
            List<String> merged = new ArrayList<>(symbols.size());
            Iterator<String> it = symbols.iterator();
            String prev = null;
            while (it.hasNext()) {
                String s = it.next();
                if (prev != null && prev.equals(first) && s.equals(second)) {
                    merged.set(merged.size() - 1, first + second);
                    prev = null;
                } else {
                    merged.add(s);
                    prev = s;
                }
            }
            symbols = merged;
        }
        return symbols;
    }

    private int idOf(String token, String role) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException(role + " '" + token + "' is not in the vocabulary");
        }
        return id;
    }

    private static Map<String, Integer> readVocab(JsonNode node, Path file, String field) {
        if (!node.isObject()) {
            throw new ConfigException(file.toString(), field, "expected an object token -> id");
        }
        Map<String, Integer> vocab = new HashMap<>();
        node.fields().forEachRemaining(e -> {
            if (!e.getValue().canConvertToInt()) {
                throw new ConfigException(file.toString(), field, "id of '" + e.getKey() + "' is " + e.getValue());
            }
            vocab.put(e.getKey(), e.getValue().intValue());
        });
        return vocab;
    }

    private static String[] pair(String line, Path file, int n) {
        String[] p = line.split(" ");
        if (p.length != 2) {
            throw new ConfigException(file.toString(), "merges", "entry " + n + " is not a pair: '" + line + "'");
        }
        return p;
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ConfigException(file.toString(), "(file)", "unreadable JSON: " + e.getMessage());
        }
    }
}
