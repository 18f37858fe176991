package dev.jdiffuse.server.comfy;

import java.time.ZonedDateTime;
import java.util.regex.Pattern;

/**
 * The variables of a SaveImage {@code filename_prefix} that ComfyUI fills in on the server when it saves
 * ({@code folder_paths.compute_vars}): {@code %width%} and {@code %height%} of the image, and the local time's
 * {@code %year%}, {@code %month%}, {@code %day%}, {@code %hour%}, {@code %minute%}, {@code %second%} (two digits but
 * the year), so shared workflows such as {@code %year%-%month%-%day%/img} save as they do in ComfyUI.
 */
final class SavePathVars {

    /** One variable, as ComfyUI spells it. */
    static final Pattern VAR = Pattern.compile("%(width|height|year|month|day|hour|minute|second)%");

    private SavePathVars() {
    }

    /** {@code text} with every variable replaced (other text, other {@code %} included, as it is). */
    static String fill(String text, int width, int height, ZonedDateTime now) {
        if (text.indexOf('%') < 0) {
            return text;
        }
        return text.replace("%width%", Integer.toString(width))
                .replace("%height%", Integer.toString(height))
                .replace("%year%", Integer.toString(now.getYear()))
                .replace("%month%", two(now.getMonthValue()))
                .replace("%day%", two(now.getDayOfMonth()))
                .replace("%hour%", two(now.getHour()))
                .replace("%minute%", two(now.getMinute()))
                .replace("%second%", two(now.getSecond()));
    }

    private static String two(int v) {
        return v < 10 ? "0" + v : Integer.toString(v);
    }
}
