package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A CUDA graph reads the weights it was captured with, so only weight lists of the arrays as loaded may replay one
 * ({@link CudaGraphCache}): a LoRA's patched copy swapped in makes the list "not as loaded", putting the very base
 * array back makes it "as loaded" again (a new list of the same arrays).
 */
class ScriptWeightsAsLoadedTest {

    @Test
    void aPatchedParameterMakesTheListNotAsLoadedUntilTheBaseIsBack() {
        try (NDManager m = NDManager.newBaseManager()) {
            Parameter a = new Parameter(new Shape(2, 2));
            Parameter b = new Parameter(new Shape(2));
            a.set(m.ones(new Shape(2, 2)));
            b.set(m.zeros(new Shape(2)));
            ScriptWeights weights = new ScriptWeights(new Parameter[] {a, null, b},
                    new NDArray[] {null, m.arange(3f), null}, m);

            ScriptWeights.Lease loaded = weights.acquire();
            assertTrue(loaded.asLoaded(), "as loaded");
            weights.release(loaded);

            NDArray base = a.replace(m.full(new Shape(2, 2), 3f)); // a LoRA merged into a
            assertFalse(a.isAsLoaded());
            ScriptWeights.Lease patched = weights.acquire();
            assertNotSame(loaded, patched, "a replaced array makes a new list");
            assertFalse(patched.asLoaded(), "a patched weight is not as loaded");
            weights.release(patched);

            a.replace(base); // the base put back
            assertTrue(a.isAsLoaded());
            ScriptWeights.Lease restored = weights.acquire();
            assertNotSame(patched, restored);
            assertTrue(restored.asLoaded(), "the very base arrays again");
            weights.release(restored);
        }
    }
}
