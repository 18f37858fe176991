package dev.jdiffuse.server.auth;

import dev.jdiffuse.server.jobs.Priority;

/**
 * Who sent a request: the API key's name (or {@value #LOCAL} when the server runs without keys on loopback), whether
 * that key may see and cancel everyone's jobs, its quotas and its priority class.
 *
 * @param maxActive most jobs this caller may have queued or running at once (0: no limit beyond the queue's)
 * @param imagesPerHour most images this caller may request in any sliding hour (0: no limit)
 */
public record Caller(String name, boolean admin, int maxActive, int imagesPerHour, Priority priority) {

    /** The one caller of a server without keys: everyone on this machine, who sees every job. */
    public static final String LOCAL = "local";
    public static final Caller ANONYMOUS = new Caller(LOCAL, true, 0, 0, Priority.NORMAL);

    /** Whether this caller may see and cancel a job owned by {@code owner}. */
    public boolean mayAccess(String owner) {
        return admin || name.equals(owner);
    }
}
