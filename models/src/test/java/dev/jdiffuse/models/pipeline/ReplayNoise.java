package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.NoiseSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Replays noise draws recorded from diffusers, in order, checking each draw's shape; {@link #assertAllUsed}. */
public final class ReplayNoise implements NoiseSource {

    private final List<float[]> draws;
    private final List<long[]> shapes;
    private int next;

    public ReplayNoise(List<float[]> draws, List<long[]> shapes) {
        this.draws = draws;
        this.shapes = shapes;
    }

    @Override
    public NDArray normal(NDManager manager, Shape shape) {
        if (next >= draws.size()) {
            throw new AssertionError("sampler drew more noise than diffusers did (" + draws.size() + " draws)");
        }
        assertArrayEquals(shapes.get(next), shape.getShape(), "shape of noise draw " + next);
        return manager.create(draws.get(next++), shape);
    }

    public void assertAllUsed() {
        assertEquals(draws.size(), next, "noise draws used");
    }
}
