package dev.jdiffuse.models.pipeline;

import ai.djl.engine.EngineException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Engine errors, by PyTorch's own messages, to the failure each means for the server. */
class EngineFailuresTest {

    /** What PyTorch 2 appends to every CUDA error (c10/cuda/CUDAException.h). */
    private static final String ADVICE = "\nCUDA kernel errors might be asynchronously reported at some other API "
            + "call, so the stacktrace below might be incorrect.\nFor debugging consider passing "
            + "CUDA_LAUNCH_BLOCKING=1\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n";

    @Test
    void pytorchsMessagesAreClassified() {
        assertEquals(GenerationException.Kind.OUT_OF_MEMORY, EngineFailures.kindOf("CUDA out of memory. Tried to "
                + "allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which 3.06 GiB is free."));
        assertEquals(GenerationException.Kind.OUT_OF_MEMORY, EngineFailures.kindOf("CUDA error: out of memory"
                + ADVICE));
        assertEquals(GenerationException.Kind.OUT_OF_MEMORY, EngineFailures.kindOf("[enforce fail at "
                + "alloc_cpu.cpp:117] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                + "1099511627776 bytes. Error code 12 (Cannot allocate memory)"));
        assertEquals(GenerationException.Kind.DEVICE_FAILED, EngineFailures.kindOf("CUDA error: an illegal memory "
                + "access was encountered" + ADVICE));
        assertEquals(GenerationException.Kind.DEVICE_FAILED,
                EngineFailures.kindOf("CUDA error: device-side assert triggered" + ADVICE));
        assertEquals(GenerationException.Kind.DEVICE_FAILED,
                EngineFailures.kindOf("CUDA error: unspecified launch failure" + ADVICE));
        // the TorchScript interpreter's traceback comes first
        assertEquals(GenerationException.Kind.DEVICE_FAILED, EngineFailures.kindOf("The following operation failed "
                + "in the TorchScript interpreter.\nTraceback of TorchScript (most recent call last):\n  File "
                + "\"code/__torch__.py\", line 12, in forward\nRuntimeError: CUDA error: an illegal memory access "
                + "was encountered" + ADVICE));
    }

    /** Errors that are not sticky, with the advice that mentions device-side assertions, are plain failures. */
    @Test
    void otherCudaErrorsAndTheAdviceLinesAreNotABrokenDevice() {
        for (String error : new String[] {"no kernel image is available for execution on the device",
                "invalid configuration argument", "operation not permitted when stream is capturing",
                "too many resources requested for launch"}) {
            assertEquals(GenerationException.Kind.FAILED, EngineFailures.kindOf("CUDA error: " + error + ADVICE),
                    error);
        }
        assertEquals(GenerationException.Kind.FAILED, EngineFailures.kindOf("NVML_SUCCESS == r INTERNAL ASSERT "
                + "FAILED at \"../c10/cuda/CUDACachingAllocator.cpp\":838, please report a bug to PyTorch."));
        assertEquals(GenerationException.Kind.FAILED, EngineFailures.kindOf("The size of tensor a (64) must match "
                + "the size of tensor b (32) at non-singleton dimension 3"));
        assertEquals(GenerationException.Kind.FAILED, EngineFailures.kindOf(null));
    }

    @Test
    void theFirstEngineErrorInTheCauseChainDecides() {
        EngineException oom = new EngineException("CUDA out of memory. Tried to allocate 2.00 GiB");
        RuntimeException wrapped = new RuntimeException("a shared forward failed",
                new java.util.concurrent.ExecutionException(oom));
        GenerationException g = EngineFailures.classify(wrapped);
        assertEquals(GenerationException.Kind.OUT_OF_MEMORY, g.kind());
        assertEquals("out_of_memory", g.kind().apiCode());
        assertTrue(g.getMessage().contains("Tried to allocate 2.00 GiB"), g.getMessage());
        assertSame(wrapped, g.getCause(), "the whole chain kept for the log");
        assertEquals("device_failed", EngineFailures.classify(new EngineException("CUDA error: misaligned address"
                + ADVICE)).kind().apiCode());
        assertNull(EngineFailures.classify(new IllegalStateException("not the engine")));
        assertNull(EngineFailures.classify(null));
    }
}
