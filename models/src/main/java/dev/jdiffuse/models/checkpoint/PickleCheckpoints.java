package dev.jdiffuse.models.checkpoint;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * PyTorch pickles ({@code .ckpt}, {@code .pt}, {@code .pth}, {@code .bin}) are never opened: unpickling runs whatever
 * code the file names (Python's {@code pickle} calls arbitrary callables while loading), so a model downloaded from
 * anywhere could take over the server. Users convert them to safetensors once, with a Python they trust.
 */
public final class PickleCheckpoints {

    public static final List<String> EXTENSIONS = List.of(".ckpt", ".pt", ".pth", ".bin");

    private PickleCheckpoints() {
    }

    public static boolean isPickle(Path file) {
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(n::endsWith);
    }

    /** Why {@code file} is refused and how to convert it. */
    public static CheckpointFormatException refusal(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        return new CheckpointFormatException(file + ": refused: a PyTorch pickle (" + name.substring(Math.max(dot, 0))
                + "). Loading a pickle runs arbitrary code from the file, so jdiffuse never opens one. Convert it "
                + "once to safetensors with a Python you trust, e.g. python -c \"import torch, safetensors.torch as st; "
                + "sd = torch.load('" + name + "', map_location='cpu', weights_only=True); sd = sd.get('state_dict', "
                + "sd); st.save_file({k: v.contiguous() for k, v in sd.items() if hasattr(v, 'contiguous')}, '" + stem
                + ".safetensors')\" (weights_only=True refuses code), or to a diffusers folder with diffusers' "
                + "scripts/convert_original_stable_diffusion_to_diffusers.py --checkpoint_path " + name
                + " --dump_path " + stem + " --to_safetensors; then put the .safetensors file or the folder in the "
                + "models folder");
    }
}
