package dev.jdiffuse.models.nn;

import ai.djl.pytorch.jni.IValue;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Without the helper library (as here: no {@code -Djdiffuse.cudaGraphs}, no {@code JDIFFUSE_CUDA_GRAPHS}), graphs are
 * off and a cache answers "run it yourself" without touching native code, so every forward takes the TorchScript path.
 */
class CudaGraphCacheTest {

    @Test
    void withoutTheHelperEveryCallFallsBack() {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty(CudaGraphs.PROPERTY) == null
                && System.getenv(CudaGraphs.ENV) == null, "the helper is configured in this environment");
        assertFalse(CudaGraphs.available());
        try (CudaGraphCache cache = new CudaGraphCache("test")) {
            assertNull(cache.call(null, "forward", new IValue[0], new boolean[0], "key", null));
        }
    }
}
