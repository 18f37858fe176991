package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationResult;

import java.util.List;

/** Turns a finished generation's images into the PNG bytes served to clients (one per batch row). */
@FunctionalInterface
public interface ResultEncoder {

    List<byte[]> encode(Job job, GenerationResult result);
}
