package dev.jdiffuse.server.models;

/** A model named in the folder that could not be loaded; the message says why (the loader's first line). */
public final class ModelUnavailableException extends Exception {

    private final String model;

    public ModelUnavailableException(String model, String reason) {
        super("model '" + model + "' could not be loaded: " + reason);
        this.model = model;
    }

    public String model() {
        return model;
    }
}
