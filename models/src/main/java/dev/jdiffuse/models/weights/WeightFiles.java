package dev.jdiffuse.models.weights;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Finds a component's weights in its folder the way {@code from_pretrained} does: {@code <base>.safetensors}, the
 * sharded {@code <base>.safetensors.index.json}, or their {@code fp16} variants, in that order. {@code base} is
 * {@code diffusion_pytorch_model} for diffusers models and {@code model} for transformers models.
 */
public final class WeightFiles {

    public static final String DIFFUSERS = "diffusion_pytorch_model";
    public static final String TRANSFORMERS = "model";

    private WeightFiles() {
    }

    public static SafetensorsStateDict open(Path folder, String base) {
        List<String> candidates = List.of(base + ".safetensors", base + ".safetensors.index.json",
                base + ".fp16.safetensors", base + ".fp16.safetensors.index.json");
        for (String c : candidates) {
            Path p = folder.resolve(c);
            if (Files.isRegularFile(p)) {
                return SafetensorsStateDict.open(p);
            }
        }
        throw new IllegalArgumentException("no weights in " + folder + ": expected one of " + candidates
                + " (.bin pickles are not loaded: convert them to safetensors)");
    }
}
