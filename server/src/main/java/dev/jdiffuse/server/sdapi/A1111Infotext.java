package dev.jdiffuse.server.sdapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's infotext parser ({@code modules/infotext_utils.py parse_generation_parameters}), the
 * {@code parameters} of {@code POST /sdapi/v1/png-info}: the prompt lines, the lines after
 * {@code "Negative prompt:"}, and on the last line (when it holds at least three) the {@code "Key: value"} pairs,
 * values quoted as JSON strings when they hold a comma, colon or newline; a {@code WxH} value becomes
 * {@code Key-1} and {@code Key-2}. The values are strings, as A1111's are; the defaults A1111 fills in for keys an
 * infotext leaves out are filled in the same way. Not done: A1111's prompt styles (this server has none), the old
 * hires-fix "First pass size" rewrite, and the version back-compatibility flags.
 */
final class A1111Infotext {

    /** A1111's {@code re_param}, with Python's Unicode {@code \w}. */
    private static final Pattern PARAM = Pattern.compile("\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)",
            Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern IMAGE_SIZE = Pattern.compile("^(\\d+)x(\\d+)$");
    private static final String NEGATIVE = "Negative prompt:";
    private static final ObjectMapper JSON = new ObjectMapper();

    private A1111Infotext() {
    }

    /** The fields of {@code text} as A1111 parses them (string values, A1111's defaults added). */
    static Map<String, Object> parse(String text) {
        Map<String, Object> res = new LinkedHashMap<>();
        String[] split = text.strip().split("\n", -1);
        List<String> lines = new ArrayList<>(List.of(split).subList(0, split.length - 1));
        String last = split[split.length - 1];
        if (pairs(last).size() < 3) {
            lines.add(last);
            last = "";
        }
        StringBuilder prompt = new StringBuilder();
        StringBuilder negative = new StringBuilder();
        boolean doneWithPrompt = false;
        for (String raw : lines) {
            String line = raw.strip();
            if (line.startsWith(NEGATIVE)) {
                doneWithPrompt = true;
                line = line.substring(NEGATIVE.length()).strip();
            }
            StringBuilder to = doneWithPrompt ? negative : prompt;
            to.append(to.isEmpty() ? "" : "\n").append(line);
        }
        res.put("Prompt", prompt.toString());
        res.put("Negative prompt", negative.toString());
        for (String[] kv : pairs(last)) {
            String k = kv[0];
            String v = kv[1];
            if (v.isEmpty()) {
                continue; // A1111 fails on v[0] and skips the pair
            }
            if (v.length() >= 2 && v.charAt(0) == '"' && v.charAt(v.length() - 1) == '"') {
                v = unquote(v);
            }
            Matcher size = IMAGE_SIZE.matcher(v);
            if (size.matches()) {
                res.put(k + "-1", size.group(1));
                res.put(k + "-2", size.group(2));
            } else {
                res.put(k, v);
            }
        }
        defaults(res);
        return res;
    }

    /** {@code re_param.findall(line)}: each {@code [key, value]}. */
    private static List<String[]> pairs(String line) {
        List<String[]> out = new ArrayList<>();
        Matcher m = PARAM.matcher(line);
        while (m.find()) {
            out.add(new String[] {m.group(1), m.group(2)});
        }
        return out;
    }

    /** A1111's {@code unquote}: the JSON string's value, or the text as it is when it is not one. */
    private static String unquote(String v) {
        try {
            JsonNode n = JSON.readTree(v);
            return n != null && n.isTextual() ? n.asText() : v;
        } catch (java.io.IOException e) {
            return v;
        }
    }

    /** What {@code parse_generation_parameters} fills in for keys the infotext leaves out. */
    private static void defaults(Map<String, Object> res) {
        res.putIfAbsent("Clip skip", "1");
        Object hypernet = res.get("Hypernet");
        if (hypernet != null) {
            res.put("Prompt", res.get("Prompt") + "<hypernet:" + hypernet + ":"
                    + res.getOrDefault("Hypernet strength", "1.0") + ">");
        }
        if (!res.containsKey("Hires resize-1")) {
            res.put("Hires resize-1", 0);
            res.put("Hires resize-2", 0);
        }
        res.putIfAbsent("Hires sampler", "Use same sampler");
        res.putIfAbsent("Hires checkpoint", "Use same checkpoint");
        res.putIfAbsent("Hires prompt", "");
        res.putIfAbsent("Hires negative prompt", "");
        res.putIfAbsent("Mask mode", "Inpaint masked");
        res.putIfAbsent("Masked content", "original");
        res.putIfAbsent("Inpaint area", "Whole picture");
        res.putIfAbsent("Masked area padding", 32);
        res.putIfAbsent("RNG", "GPU");
        res.putIfAbsent("Schedule type", "Automatic");
        res.putIfAbsent("Schedule max sigma", 0);
        res.putIfAbsent("Schedule min sigma", 0);
        res.putIfAbsent("Schedule rho", 0);
        res.putIfAbsent("VAE Encoder", "Full");
        res.putIfAbsent("VAE Decoder", "Full");
        res.putIfAbsent("FP8 weight", "Disable");
        if (!"Disable".equals(res.get("FP8 weight"))) {
            res.putIfAbsent("Cache FP16 weight for LoRA", false);
        }
    }
}
