package dev.jdiffuse.server.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobManager;
import dev.jdiffuse.server.jobs.PendingSubmission;
import dev.jdiffuse.server.jobs.Priority;
import dev.jdiffuse.server.jobs.Submission;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.web.Json;

import java.security.SecureRandom;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Puts a generation on the queue. A request for a loaded model is validated at once (a bad one is answered 400);
 * a request for a model that is not loaded is accepted as {@link PendingSubmission}: the worker loads the model when
 * the job's turn comes (never an HTTP thread) and validates the request then, so its errors end the job
 * ({@code failed}, with the code and field the 400 would have had). Only its seed is chosen now, for the 202 answer.
 * {@code check} runs the checks that need the validated request (the cost estimate) on either path.
 */
final class Admission {

    private final ModelRegistry models;
    private final GenerationValidator validator;
    private final Json json;
    private final Consumer<Submission> check;
    private final SecureRandom random = new SecureRandom();

    Admission(ModelRegistry models, GenerationValidator validator, Json json, Consumer<Submission> check) {
        this.models = models;
        this.validator = validator;
        this.json = json;
        this.check = check;
    }

    /**
     * A checked request, ready for the queue: validated now ({@code now}) or once its model loads ({@code later});
     * {@code images}: what it counts against the caller's hourly quota (for a later one, the batch size asked for).
     */
    record Ticket(Submission now, PendingSubmission later, int images) {

        Job submitTo(JobManager jobs, String owner, Priority priority) {
            return now != null ? jobs.submit(now, owner, priority) : jobs.submit(later, owner, priority);
        }
    }

    /** Checks what can be checked now; every refusal is the API's error (400, or 503 for an unusable model). */
    Ticket admit(GenerationBody body) {
        String name = validator.modelName(body.model());
        Optional<LoadedModel> loaded = models.loaded(name);
        if (loaded.isPresent()) {
            Submission v = validator.validate(body, loaded.get());
            check.accept(v);
            return new Ticket(v, null, v.request().batchSize());
        }
        GenerationBody seeded = withSeed(body);
        return new Ticket(null, new PendingSubmission(name, seeded.seed(), m -> {
            Submission v = validator.validate(seeded, m);
            check.accept(v);
            return v;
        }), body.batchSize() == null ? 1 : Math.max(1, body.batchSize()));
    }

    /** The body with its seed drawn as the validator draws it (absent or -1), every other field as given. */
    private GenerationBody withSeed(GenerationBody body) {
        if (body.seed() != null && body.seed() != -1) {
            return body;
        }
        ObjectNode tree = json.mapper().valueToTree(body);
        tree.put("seed", random.nextLong(GenerationValidator.RANDOM_SEED_BOUND));
        try {
            return json.mapper().treeToValue(tree, GenerationBody.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a generation body did not survive its own JSON form", e);
        }
    }
}
