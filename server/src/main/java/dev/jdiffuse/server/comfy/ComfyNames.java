package dev.jdiffuse.server.comfy;

import java.util.List;
import java.util.Locale;

/**
 * File names as ComfyUI clients write them: a checkpoint or LoRA is listed as {@code name.safetensors} (ComfyUI
 * lists files) and accepted with or without that extension; other combos match exactly.
 */
final class ComfyNames {

    static final String EXT = ".safetensors";
    private static final List<String> EXTENSIONS = List.of(".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft",
            ".gguf");

    private ComfyNames() {
    }

    /** How a model or LoRA named {@code name} is listed. */
    static String listed(String name) {
        return name + EXT;
    }

    /** {@code name} without a model-file extension. */
    static String bare(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        for (String ext : EXTENSIONS) {
            if (lower.endsWith(ext)) {
                return name.substring(0, name.length() - ext.length());
            }
        }
        return name;
    }

    /** The list entry {@code given} names, or null. */
    static String match(String given, List<String> list, ComfyNodes.Combo combo) {
        if (list.contains(given)) {
            return given;
        }
        if (combo == ComfyNodes.Combo.CHECKPOINTS || combo == ComfyNodes.Combo.LORAS) {
            String bare = bare(given.replace('\\', '/'));
            for (String l : list) {
                if (bare(l).equals(bare)) {
                    return l;
                }
            }
        }
        return null;
    }
}
