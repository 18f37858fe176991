package dev.jdiffuse.models.lora;

import java.util.Collection;
import java.util.stream.Collectors;

/** A LoRA file that cannot be read or does not fit the model it is applied to; the message lists the keys. */
public final class LoraException extends RuntimeException {

    /** Keys named in a message before "and N more". */
    static final int LISTED = 20;

    public LoraException(String message) {
        super(message);
    }

    /** "what (n): a, b, c and 3 more", or "" for none. */
    static String listed(String what, Collection<String> items) {
        if (items.isEmpty()) {
            return "";
        }
        String head = items.stream().limit(LISTED).collect(Collectors.joining(", "));
        return what + " (" + items.size() + "): " + head + (items.size() > LISTED ? " and " + (items.size() - LISTED)
                + " more" : "");
    }
}
