package dev.jdiffuse.server.jobs;

import dev.jdiffuse.server.models.LoadedModel;

import java.util.function.Function;

/**
 * A request for a model that is not loaded yet: the worker loads the model when the job's turn comes, then
 * {@code resolve} validates the request against it (throwing the API's 400 error, which then ends the job) and
 * yields the {@link Submission} that runs.
 *
 * @param model the model's name
 * @param seed the seed already chosen (the 202 answer carries it)
 */
public record PendingSubmission(String model, long seed, Function<LoadedModel, Submission> resolve) {
}
