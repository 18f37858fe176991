package dev.jdiffuse.models.weights;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Finds a component's weights in its folder the way {@code from_pretrained} does: {@code <base>.safetensors}, the
 * sharded {@code <base>.safetensors.index.json}, or their {@code fp16} variants, in that order. PyTorch pickles
 * ({@code .bin}) beside them are ignored, and a folder with only pickles is refused: unpickling runs arbitrary code. {@code base} is
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
        for (String pickle : List.of(base + ".bin", base + ".fp16.bin", base + ".bin.index.json", base + ".ckpt")) {
            if (Files.isRegularFile(folder.resolve(pickle))) {
                throw new IllegalArgumentException(folder + ": only PyTorch pickle weights (" + pickle + "), refused: "
                        + "loading a pickle runs arbitrary code from the file. Convert the folder once with a Python "
                        + "you trust, e.g. DiffusionPipeline.from_pretrained(folder).save_pretrained(out, "
                        + "safe_serialization=True), or download its .safetensors files; expected one of "
                        + candidates);
            }
        }
        throw new IllegalArgumentException("no weights in " + folder + ": expected one of " + candidates);
    }
}
