package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The prompt-embedding LRU: one encoding per key, copies owned by each request, eviction beyond the capacity. */
class EmbeddingCacheTest {

    @Test
    void aRepeatedKeyIsEncodedOnceAndEachRequestOwnsItsCopy() {
        AtomicInteger encodings = new AtomicInteger();
        try (EmbeddingCache cache = new EmbeddingCache(2); NDManager root = NDManager.newBaseManager()) {
            float[] first;
            try (NDManager job = root.newSubManager()) {
                NDList a = cache.get("apple", job, m -> encode(m, 1f, encodings));
                assertEquals(job, a.get(0).getManager(), "the request's manager owns the copy");
                assertNull(a.get(1), "an absent output stays absent");
                first = a.get(0).toFloatArray();
            }
            try (NDManager job = root.newSubManager()) {
                NDList b = cache.get("apple", job, m -> encode(m, 99f, encodings));
                assertArrayEquals(first, b.get(0).toFloatArray(), "the kept encoding, not a new one");
                b.get(0).muli(0f); // a request changing its copy leaves the entry alone
            }
            try (NDManager job = root.newSubManager()) {
                assertArrayEquals(first, cache.get("apple", job, m -> encode(m, 99f, encodings)).get(0)
                        .toFloatArray());
            }
            assertEquals(1, encodings.get());
            try (NDManager job = root.newSubManager()) {
                cache.get("boat", job, m -> encode(m, 2f, encodings));
                cache.get("cat", job, m -> encode(m, 3f, encodings));
            }
            assertEquals(2, cache.size(), "beyond the capacity the least recently used goes");
            try (NDManager job = root.newSubManager()) {
                float[] again = cache.get("apple", job, m -> encode(m, 4f, encodings)).get(0).toFloatArray();
                assertEquals(4f, again[0], "evicted, so encoded again");
            }
            assertEquals(4, encodings.get());
        }
    }

    @Test
    void capacityZeroEncodesEveryTimeInTheRequestsManager() {
        AtomicInteger encodings = new AtomicInteger();
        try (EmbeddingCache cache = new EmbeddingCache(0); NDManager job = NDManager.newBaseManager()) {
            NDList a = cache.get("apple", job, m -> encode(m, 1f, encodings));
            cache.get("apple", job, m -> encode(m, 1f, encodings));
            assertEquals(2, encodings.get());
            assertEquals(0, cache.size());
            assertTrue(a.get(0).getManager() == job);
        }
    }

    private static NDList encode(NDManager m, float value, AtomicInteger count) {
        count.incrementAndGet();
        NDArray context = m.full(new Shape(1, 4, 3), value);
        NDList out = new NDList(2);
        out.add(context);
        out.add(null);
        return out;
    }
}
