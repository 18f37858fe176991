package dev.jdiffuse.server.models;

/**
 * How many models may stay loaded at once ({@code --max-loaded-models}) and how many bytes of weight files they may
 * add up to ({@code --max-loaded-bytes}, 0 = no byte limit). A model that does not fit evicts least recently used
 * models nobody is generating with; when none can go it loads anyway (over budget, with a warning) rather than
 * stall the queue.
 */
public record ModelBudget(int maxModels, long maxBytes) {

    /** No limit: every model that loads stays (tests and the one-model command line). */
    public static final ModelBudget UNLIMITED = new ModelBudget(Integer.MAX_VALUE, 0);

    public ModelBudget {
        if (maxModels < 1) {
            throw new IllegalArgumentException("--max-loaded-models must be >= 1, got " + maxModels);
        }
        if (maxBytes < 0) {
            throw new IllegalArgumentException("--max-loaded-bytes must be >= 0, got " + maxBytes);
        }
    }

    boolean fits(int models, long bytes) {
        return models <= maxModels && (maxBytes == 0 || bytes <= maxBytes);
    }
}
