package dev.jdiffuse.server.jobs;

/** Receives the measurements of every job that ends (metrics). Called on the thread that ended the job. */
public interface JobOutcomes {

    JobOutcomes NONE = (owner, status, code, waitMillis, runMillis, steps, denoiseMillis) -> { };

    /**
     * @param owner the name of the key that submitted the job
     * @param code the error code for failed/cancelled jobs, null for succeeded ones
     * @param steps steps completed
     * @param denoiseMillis the sampling loop's time for succeeded jobs, else 0
     */
    void ended(String owner, JobStatus status, String code, long waitMillis, long runMillis, int steps, long denoiseMillis);
}
