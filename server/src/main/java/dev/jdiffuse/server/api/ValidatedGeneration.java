package dev.jdiffuse.server.api;

import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.server.models.LoadedModel;

import java.util.List;

/**
 * A request that passed validation: the model to run, the complete pipeline request (every default resolved, the
 * seed chosen), and the names of the uploads and ControlNets it uses (for reporting).
 */
public record ValidatedGeneration(LoadedModel model, GenerationRequest request, List<ControlRef> controlRefs) {

    /** What the client sent for one ControlNet, for the job's parameter report. */
    public record ControlRef(String model, String upload, double scale, double start, double end) {
    }
}
