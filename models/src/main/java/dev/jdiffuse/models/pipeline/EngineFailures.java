package dev.jdiffuse.models.pipeline;

import ai.djl.engine.EngineException;

import java.util.List;
import java.util.Locale;

/**
 * What an error of the engine (PyTorch, through DJL's {@link EngineException}) means for the server, read from its
 * message since that is all DJL passes on: memory ran out (this job fails; a smaller one may run), the device is
 * broken for this process (CUDA's "sticky" errors: every later call on that device fails until the process restarts,
 * as PyTorch's docs and the reliability notes say), or anything else (this job fails).
 */
public final class EngineFailures {

    /**
     * PyTorch's allocation failures: the CUDA caching allocator ("CUDA out of memory. Tried to allocate ..."), its
     * host allocators ("DefaultCPUAllocator: not enough memory", "can't allocate memory"), and the MPS one.
     */
    private static final List<String> OUT_OF_MEMORY = List.of("out of memory", "not enough memory",
            "can't allocate memory", "outofmemory");

    /**
     * CUDA errors that corrupt the context (cudaErrorIllegalAddress, cudaErrorAssert, cudaErrorLaunchFailure,
     * cudaErrorIllegalInstruction, cudaErrorMisalignedAddress, cudaErrorHardwareStackError, cudaErrorInvalidPc,
     * cudaErrorECCUncorrectable), by their runtime messages, and the NVML failures the caching allocator reports when
     * the driver has lost the GPU.
     */
    private static final List<String> DEVICE_BROKEN = List.of("illegal memory access", "device-side assert",
            "unspecified launch failure", "illegal instruction", "misaligned address", "hardware stack error",
            "invalid program counter", "uncorrectable ecc", "nvml_success == r", "gpu is lost");

    private EngineFailures() {
    }

    /** The kind of failure an engine error with {@code message} is. */
    public static GenerationException.Kind kindOf(String message) {
        String m = String.valueOf(message).toLowerCase(Locale.ROOT);
        if (DEVICE_BROKEN.stream().anyMatch(m::contains)) {
            return GenerationException.Kind.DEVICE_FAILED;
        }
        if (OUT_OF_MEMORY.stream().anyMatch(m::contains)) {
            return GenerationException.Kind.OUT_OF_MEMORY;
        }
        return GenerationException.Kind.FAILED;
    }

    /**
     * {@code t} as the generation failure it means when it is, or was caused by, an engine error (the first in its
     * cause chain); null when none is in the chain (the caller handles {@code t} as it is).
     */
    public static GenerationException classify(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof EngineException e) {
                GenerationException.Kind kind = kindOf(e.getMessage());
                String what = switch (kind) {
                    case OUT_OF_MEMORY -> "the device ran out of memory (try a smaller size or batch): ";
                    case DEVICE_FAILED -> "the device failed and cannot run jobs until the server restarts: ";
                    default -> "the engine failed: ";
                };
                return new GenerationException(kind, what + e.getMessage(), t);
            }
        }
        return null;
    }
}
