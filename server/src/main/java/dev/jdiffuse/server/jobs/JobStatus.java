package dev.jdiffuse.server.jobs;

import java.util.Locale;

/**
 * A job's state: QUEUED, then LOADING while the worker loads a model that is not in memory (skipped when it is),
 * then RUNNING, then exactly one terminal state.
 */
public enum JobStatus {
    QUEUED, LOADING, RUNNING, SUCCEEDED, FAILED, CANCELLED;

    public boolean terminal() {
        return this == SUCCEEDED || this == FAILED || this == CANCELLED;
    }

    /** The lower-case name used in the API. */
    public String apiName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
