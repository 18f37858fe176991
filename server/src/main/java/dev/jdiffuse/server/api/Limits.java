package dev.jdiffuse.server.api;

/**
 * Bounds every request is checked against before it reaches a pipeline or a decoder.
 *
 * @param maxSide longest allowed output width or height in pixels
 * @param maxPixels largest allowed output {@code width * height}
 * @param maxSteps most sampler steps
 * @param maxBatch most images per request
 * @param maxPromptChars longest prompt and negative prompt, in UTF-16 chars
 * @param maxBodyBytes largest JSON request body (Content-Length or chunked)
 * @param maxUploadBytes largest upload body
 * @param maxUploadPixels most pixels an upload's header may declare (checked before decoding)
 * @param maxUploadSide longest side an upload's header may declare
 */
public record Limits(int maxSide, long maxPixels, int maxSteps, int maxBatch, int maxPromptChars, long maxBodyBytes,
        long maxUploadBytes, long maxUploadPixels, int maxUploadSide) {

    public static final Limits DEFAULTS = new Limits(2048, 2048L * 2048, 150, 8, 10_000, 256 * 1024,
            20L * 1024 * 1024, 4096L * 4096, 8192);
}
