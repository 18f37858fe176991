package dev.jdiffuse.server.api;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reads one preference's value out of a {@code Prefer} header, by RFC 7240 section 2's grammar:
 * {@code 1#( token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] ) )}, where a word is a token or a quoted
 * string. Commas and semicolons inside a quoted string belong to its value (so {@code foo="a, wait=5"} asks for no
 * wait), and only a preference's first instance counts (section 2). No library covers this header: Javalin and
 * Jetty give the raw value.
 */
final class PreferHeader {

    private PreferHeader() {
    }

    /**
     * The value of the first preference named {@code name} (case-insensitive) in {@code header}, unquoted; "" when it
     * has none; null when it is absent or the header cannot be read (an unbalanced quote).
     */
    static String value(String header, String name) {
        List<String> preferences = splitOutsideQuotes(header, ',');
        if (preferences == null) {
            return null;
        }
        for (String preference : preferences) {
            String head = splitOutsideQuotes(preference, ';').get(0);
            int eq = head.indexOf('=');
            String token = (eq < 0 ? head : head.substring(0, eq)).strip();
            if (token.toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))) {
                return eq < 0 ? "" : unquote(head.substring(eq + 1).strip());
            }
        }
        return null;
    }

    /** {@code text} cut at each {@code separator} outside a quoted string; null when a quote is left open. */
    private static List<String> splitOutsideQuotes(String text, char separator) {
        List<String> parts = new ArrayList<>();
        StringBuilder part = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quoted && c == '\\' && i + 1 < text.length()) {
                part.append(c).append(text.charAt(++i)); // quoted-pair: the next character is literal
                continue;
            }
            if (c == '"') {
                quoted = !quoted;
            } else if (c == separator && !quoted) {
                parts.add(part.toString());
                part.setLength(0);
                continue;
            }
            part.append(c);
        }
        if (quoted) {
            return null;
        }
        parts.add(part.toString());
        return parts;
    }

    /** A word's value: a quoted string without its quotes and escapes, a token as it is. */
    private static String unquote(String word) {
        if (word.length() < 2 || word.charAt(0) != '"' || word.charAt(word.length() - 1) != '"') {
            return word;
        }
        StringBuilder value = new StringBuilder();
        for (int i = 1; i < word.length() - 1; i++) {
            char c = word.charAt(i);
            value.append(c == '\\' && i + 1 < word.length() - 1 ? word.charAt(++i) : c);
        }
        return value.toString();
    }
}
