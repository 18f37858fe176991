package dev.jdiffuse.models.nn;

import ai.djl.engine.EngineException;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The choice between a model's script and its op-by-op path, and the fallback when the script fails. */
class ScriptedPathTest {

    @Test
    void aScriptThatIsOffOrCannotBeMadeLeavesTheOpByOpPath() {
        ScriptedPath<String> off = new ScriptedPath<>("test", ScriptedPathTest.class, () -> null);
        assertFalse(off.available());
        assertEquals("composite", off.run(s -> "script", () -> "composite"));
        AtomicInteger tries = new AtomicInteger();
        ScriptedPath<String> broken = new ScriptedPath<>("test", ScriptedPathTest.class, () -> {
            tries.incrementAndGet();
            throw new IllegalStateException("does not compile");
        });
        assertEquals("composite", broken.run(s -> "script", () -> "composite"));
        assertEquals("composite", broken.run(s -> "script", () -> "composite"));
        assertFalse(broken.available());
        assertEquals(1, tries.get(), "made once, not at every call");
    }

    @Test
    void theScriptRunsWhereItExists() {
        ScriptedPath<String> on = new ScriptedPath<>("test", ScriptedPathTest.class, () -> "S");
        assertTrue(on.available());
        assertEquals("script S", on.run(s -> "script " + s, () -> "composite"));
    }

    @Test
    void aScriptThatFailsWhereTheOpByOpPathWorksIsDropped() {
        AtomicInteger scripted = new AtomicInteger();
        ScriptedPath<String> p = new ScriptedPath<>("test", ScriptedPathTest.class, () -> "S");
        assertEquals("composite", p.run(s -> {
            scripted.incrementAndGet();
            throw new EngineException("no kernel for this op");
        }, () -> "composite"));
        assertEquals("composite", p.run(s -> {
            scripted.incrementAndGet();
            return "script";
        }, () -> "composite"));
        assertEquals(1, scripted.get(), "op by op from then on");
        assertFalse(p.available());
    }

    @Test
    void whenBothFailTheInputsAreAtFaultAndTheScriptStays() {
        ScriptedPath<String> p = new ScriptedPath<>("test", ScriptedPathTest.class, () -> "S");
        IllegalArgumentException bad = new IllegalArgumentException("bad input");
        assertSame(bad, assertThrows(IllegalArgumentException.class, () -> p.run(s -> {
            throw new EngineException("shape mismatch");
        }, () -> {
            throw bad;
        })));
        assertTrue(p.available(), "kept");
    }

    @Test
    void outOfMemoryIsRethrownWithoutTryingTheOpByOpPath() {
        ScriptedPath<String> p = new ScriptedPath<>("test", ScriptedPathTest.class, () -> "S");
        AtomicInteger composite = new AtomicInteger();
        assertThrows(EngineException.class, () -> p.run(s -> {
            throw new EngineException("CUDA out of memory. Tried to allocate 2.00 GiB");
        }, () -> {
            composite.incrementAndGet();
            return "composite";
        }));
        assertEquals(0, composite.get());
        assertTrue(p.available());
    }

    @Test
    void aBrokenDeviceIsRethrownButAScriptsOwnCudaErrorFallsBack() {
        ScriptedPath<String> p = new ScriptedPath<>("test", ScriptedPathTest.class, () -> "S");
        AtomicInteger composite = new AtomicInteger();
        String advice = "\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.";
        assertThrows(EngineException.class, () -> p.run(s -> {
            throw new EngineException("CUDA error: an illegal memory access was encountered" + advice);
        }, () -> {
            composite.incrementAndGet();
            return "composite";
        }));
        assertEquals(0, composite.get(), "the op-by-op path would fail on the broken device too");
        assertTrue(p.available());
        assertEquals("composite", p.run(s -> {
            throw new EngineException("CUDA error: no kernel image is available for execution on the device" + advice);
        }, () -> "composite"), "the script's own failure");
        assertFalse(p.available(), "op by op from then on");
    }
}
