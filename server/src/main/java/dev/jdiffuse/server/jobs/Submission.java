package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.Outpaint;
import dev.jdiffuse.server.models.LoadedModel;

import java.util.List;

/**
 * A request the API has accepted: the model to run, the pipeline request (every default resolved, the seed chosen,
 * the model's own {@code check} passed), and which upload each ControlNet and the init image read (for the job
 * record; {@code initImage} is null for text-to-image), each LoRA with the hash its metadata records, the mask's
 * upload and the outpainting pads (null when absent; the request already holds the extended canvas and its mask).
 */
public record Submission(LoadedModel model, GenerationRequest request, List<ControlRef> controls, String initImage,
        List<LoraRef> loras, String mask, Outpaint outpaint, List<EmbeddingRef> embeddings) {

    public Submission {
        controls = List.copyOf(controls);
        loras = loras == null ? List.of() : List.copyOf(loras);
        embeddings = embeddings == null ? List.of() : List.copyOf(embeddings);
    }

    /** No textual-inversion embeddings. */
    public Submission(LoadedModel model, GenerationRequest request, List<ControlRef> controls, String initImage,
            List<LoraRef> loras, String mask, Outpaint outpaint) {
        this(model, request, controls, initImage, loras, mask, outpaint, List.of());
    }

    /**
     * A textual-inversion embedding a prompt used: its name and AUTOMATIC1111's short hash (first 12 hex digits of
     * the file's SHA-256), as the infotext's {@code TI hashes} records them.
     */
    public record EmbeddingRef(String name, String hash) {
    }

    /**
     * One LoRA as it ran: its name, multiplier and AUTOMATIC1111's short hash (first 12 hex digits of the SHA-256 of
     * the file's tensor data; see {@code LoraHashes}).
     */
    public record LoraRef(String name, double scale, String hash) {
    }

    /** One ControlNet as the client named it: model, upload id ({@code image}), scale and active window. */
    public record ControlRef(String model, String image, double scale, double start, double end) {
    }
}
