package dev.jdiffuse.server.models;

import java.nio.file.Path;
import java.util.List;

/**
 * One entry of the models folder as {@code GET /v1/models} shows it.
 *
 * @param family the loaded pipeline's family, else a guess from the folder's configs ({@link ModelEntries#guessFamily}),
 *     else null
 * @param bytes the weight files' size on disk: the estimate the loaded-bytes budget counts
 * @param state {@link ModelState}
 * @param error why the model could not be loaded (state {@code FAILED}), else null
 * @param info what the model said of itself at its last load, or null if it never loaded
 * @param devices the labels of the devices it is loaded on now ({@link DeviceNames#labels}), in device order
 */
public record ModelListing(String name, Path path, String family, long bytes, ModelState state, String error,
        ModelInfo info, List<String> devices) {

    public ModelListing {
        devices = List.copyOf(devices);
    }

    public boolean loaded() {
        return state == ModelState.LOADED;
    }
}
