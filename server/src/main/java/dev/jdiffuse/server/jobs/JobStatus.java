package dev.jdiffuse.server.jobs;

import java.util.Locale;

/** A job's state: QUEUED, then RUNNING, then exactly one terminal state. */
public enum JobStatus {
    QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED;

    public boolean terminal() {
        return this == SUCCEEDED || this == FAILED || this == CANCELLED;
    }

    /** The lower-case name used in the API. */
    public String apiName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
