package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.ImagePipeline;

/**
 * A pipeline ready to generate, with the hash recorded in image metadata.
 *
 * @param name the name clients use ({@code "model"} field)
 * @param pipeline the loaded pipeline
 * @param sha256 hex SHA-256 of the weights (see {@link ModelHasher}); A1111's "Model hash" is its first 10 chars
 */
public record LoadedModel(String name, ImagePipeline pipeline, String sha256) {

    /** A1111's short hash (AutoV2): the first 10 hex digits of the SHA-256. */
    public String shortHash() {
        return shortHash(sha256);
    }

    /** The first 10 hex digits of a SHA-256 (A1111's AutoV2 hash). */
    public static String shortHash(String sha256) {
        return sha256.length() > 10 ? sha256.substring(0, 10) : sha256;
    }
}
