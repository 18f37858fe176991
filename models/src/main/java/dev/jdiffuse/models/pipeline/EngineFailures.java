package dev.jdiffuse.models.pipeline;

import ai.djl.engine.EngineException;

import java.util.List;
import java.util.Locale;

/**
 * What an error of the engine (PyTorch, through DJL's {@link EngineException}) means for the server, read from its
 * message since that is all DJL passes on: memory ran out (this job fails; a smaller one may run), the device is
 * broken for this process (CUDA's "sticky" errors: every later call on that device fails until the process restarts),
 * or anything else (this job fails).
 *
 * <p>Read line by line, and for CUDA runtime errors only the text after {@code "CUDA error: "}: PyTorch 2 ends every
 * CUDA error with advice lines ("Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.") that must not
 * be mistaken for the error, and the TorchScript interpreter puts its traceback before it.
 */
public final class EngineFailures {

    private static final String CUDA_ERROR = "cuda error: ";

    /**
     * The runtime's messages of the errors that corrupt the context (cudaErrorIllegalAddress, cudaErrorAssert,
     * cudaErrorLaunchFailure, cudaErrorIllegalInstruction, cudaErrorMisalignedAddress, cudaErrorHardwareStackError,
     * cudaErrorInvalidPc, cudaErrorECCUncorrectable), lower case.
     */
    private static final List<String> STICKY = List.of("an illegal memory access was encountered",
            "device-side assert triggered", "unspecified launch failure", "an illegal instruction was encountered",
            "misaligned address", "hardware stack error", "invalid program counter",
            "uncorrectable ecc error encountered");

    /**
     * Allocation failures outside a "CUDA error" line: the CUDA caching allocator ("CUDA out of memory. Tried to
     * allocate ...") and PyTorch's host allocator ("DefaultCPUAllocator: not enough memory", "can't allocate memory").
     */
    private static final List<String> OUT_OF_MEMORY = List.of("out of memory",
            "defaultcpuallocator: not enough memory", "defaultcpuallocator: can't allocate memory");

    /** Cause-chain links followed at most (a chain is never this long; a cycle must not loop forever). */
    private static final int MAX_CAUSES = 32;

    private EngineFailures() {
    }

    /** The kind of failure an engine error with {@code message} is. */
    public static GenerationException.Kind kindOf(String message) {
        if (message == null) {
            return GenerationException.Kind.FAILED;
        }
        boolean oom = false;
        for (String line : message.toLowerCase(Locale.ROOT).split("\n")) {
            int at = line.indexOf(CUDA_ERROR);
            if (at >= 0) {
                String error = line.substring(at + CUDA_ERROR.length()).strip();
                if (STICKY.stream().anyMatch(error::startsWith)) {
                    return GenerationException.Kind.DEVICE_FAILED;
                }
                oom |= error.startsWith("out of memory");
            } else {
                oom |= OUT_OF_MEMORY.stream().anyMatch(line::contains);
            }
        }
        return oom ? GenerationException.Kind.OUT_OF_MEMORY : GenerationException.Kind.FAILED;
    }

    /**
     * {@code t} as the generation failure it means when it is, or was caused by, an engine error (the first in its
     * cause chain); null when none is in the chain (the caller handles {@code t} as it is).
     */
    public static GenerationException classify(Throwable t) {
        Throwable c = t;
        for (int depth = 0; c != null && depth < MAX_CAUSES; depth++, c = c.getCause()) {
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
