package dev.jdiffuse.server.models;

/** The production {@link PipelineLoader}. */
public final class ModelLoaders {

    private ModelLoaders() {
    }

    /**
     * The loader for real models. The seam to {@code dev.jdiffuse.models.pipeline.Pipelines.open(path, device,
     * dtype)}: until that loader is merged into the models module, this reports plainly that no model family can be
     * loaded yet, so the server starts, logs the reason per entry and stays not-ready.
     */
    public static PipelineLoader production() {
        return (entry, device, dtype) -> {
            throw new UnsupportedOperationException(
                    "this build has no pipeline loader yet (dev.jdiffuse.models.pipeline.Pipelines.open)");
        };
    }
}
