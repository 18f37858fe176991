package dev.jdiffuse.server.api;

import dev.jdiffuse.server.web.ApiException;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's LoRA syntax in a prompt: {@code <lora:name:multiplier>} (also {@code <lyco:...>}; the multiplier
 * defaults to 1), as {@code extra_networks.parse_prompt} reads it: the tag is cut out of the text, which the text
 * encoder never sees. Separate text-encoder and UNet multipliers ({@code <lora:name:0.8:0.5>}, {@code te=}) are
 * refused rather than read differently.
 */
final class PromptLoras {

    /** {@code modules/extra_networks.py re_extra_net}, restricted to the LoRA names. */
    private static final Pattern TAG = Pattern.compile("<(lora|lyco):([^>]+)>");

    /** One tag: the LoRA's name and multiplier. */
    record Tag(String name, double scale) {
    }

    /** The prompt without its tags, and the tags in order. */
    record Parsed(String prompt, List<Tag> tags) {
    }

    private PromptLoras() {
    }

    static Parsed parse(String prompt) {
        List<Tag> tags = new ArrayList<>();
        Matcher m = TAG.matcher(prompt);
        StringBuilder rest = new StringBuilder();
        while (m.find()) {
            String[] items = m.group(2).split(":", -1);
            if (items.length > 2) {
                throw ApiException.invalid("prompt", m.group() + ": separate text-encoder and UNet multipliers are "
                        + "not supported; give one multiplier, <lora:name:0.8>");
            }
            double scale = 1.0;
            if (items.length == 2) {
                try {
                    scale = Double.parseDouble(items[1].trim());
                } catch (NumberFormatException e) {
                    throw ApiException.invalid("prompt", m.group() + ": the multiplier must be a number, got '"
                            + items[1] + "'");
                }
            }
            tags.add(new Tag(items[0].trim(), scale));
            m.appendReplacement(rest, "");
        }
        m.appendTail(rest);
        return new Parsed(rest.toString(), tags);
    }
}
