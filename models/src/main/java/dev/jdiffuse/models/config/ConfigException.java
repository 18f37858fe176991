package dev.jdiffuse.models.config;

/** A model config that cannot be honoured: names the file and the field, so the user knows what to fix. */
public final class ConfigException extends RuntimeException {

    private final String field;

    public ConfigException(String source, String field, String problem) {
        super(source + ": field '" + field + "': " + problem);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
