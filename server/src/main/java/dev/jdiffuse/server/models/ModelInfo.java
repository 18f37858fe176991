package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.PipelineDefaults;

import java.util.List;

/**
 * What a model said of itself when it last loaded, kept after it is evicted so {@code GET /v1/models} still shows it.
 *
 * @param family the pipeline's family ({@code sd1}, {@code sdxl}, ...)
 * @param sha256 hex SHA-256 of the weights ({@link ModelHasher})
 * @param sizeMultiple what image sides must be multiples of ({@link ImagePipeline#sizeMultiple})
 * @param samplers the samplers that apply to the model (its noise space); empty when it does not say
 */
public record ModelInfo(String family, String sha256, int pixelsPerLatent, int sizeMultiple, PipelineDefaults defaults,
        List<String> controlnets, List<String> samplers) {

    public ModelInfo {
        controlnets = List.copyOf(controlnets);
        samplers = samplers == null ? List.of() : List.copyOf(samplers);
    }

    static ModelInfo of(LoadedModel m) {
        ImagePipeline p = m.pipeline();
        return new ModelInfo(p.family(), m.sha256(), p.pixelsPerLatent(), p.sizeMultiple(), p.defaults(),
                p.controlnets(), p.samplers());
    }
}
