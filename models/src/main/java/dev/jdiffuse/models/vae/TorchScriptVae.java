package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.nn.ScriptModules;
import dev.jdiffuse.models.nn.ScriptWeights;

import java.util.List;
import java.util.Map;

/**
 * An {@link AutoencoderKL}'s encoder and decoder as one TorchScript call each ({@link VaeScriptSource}): the SD
 * decoder's ~250 ops (about 30 resnet blocks, the mid attention, 3 upsamplers) run inside libtorch's interpreter
 * instead of one JNI call each. The weights go to the script as one list IValue ({@link ScriptWeights}: built once,
 * rebuilt when a parameter's array has been replaced); the per-channel latent statistics, where the config has them,
 * ride in the same list. Every result lands in the input's manager.
 */
final class TorchScriptVae {

    private final PtSymbolBlock module;
    private final ScriptWeights weights;

    private TorchScriptVae(PtSymbolBlock module, ScriptWeights weights) {
        this.module = module;
        this.weights = weights;
    }

    /**
     * Generates and compiles the script of {@code vae} (loaded into {@code owner}).
     *
     * @param latentsMean [1, latent, 1, 1] in the weights' dtype, or null when the config has no statistics
     * @param latentsStd the same for the standard deviation
     * @throws RuntimeException when the model has something the generator does not write or the script does not
     *     compile; the caller keeps the op-by-op path
     */
    static TorchScriptVae create(AutoencoderKL vae, NDArray latentsMean, NDArray latentsStd, NDManager owner) {
        Map<String, Parameter> named = vae.namedParameters();
        VaeScriptSource source = VaeScriptSource.of(vae.config(), named.keySet());
        PtSymbolBlock module = ScriptModules.load(VaeScriptSource.CLASS, source.code());
        List<String> names = source.weightNames();
        Parameter[] params = new Parameter[names.size()];
        NDArray[] constants = new NDArray[names.size()];
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            if (VaeScriptSource.LATENTS_MEAN.equals(n)) {
                constants[i] = latentsMean;
            } else if (VaeScriptSource.LATENTS_STD.equals(n)) {
                constants[i] = latentsStd;
            } else {
                params[i] = named.get(n);
            }
        }
        return new TorchScriptVae(module, new ScriptWeights(params, constants, owner));
    }

    /** VAE-space latents [B, latent, h, w] -> [B, out, f*h, f*w] in the weights' dtype. */
    NDArray decode(NDArray z) {
        return call("decode", z);
    }

    /** Diffusion-model latents [B, latent, h, w] -> float32 image [B, out, f*h, f*w] in [0, 1]. */
    NDArray toImage(NDArray latents) {
        return call("to_image", latents);
    }

    /** Image [B, in, H, W] -> {mean, clamped logvar} [B, latent, H/f, W/f] each, in the weights' dtype. */
    NDArray[] encode(NDArray image) {
        ScriptWeights.Lease w = weights.acquire();
        try (IValue ix = IValue.from((PtNDArray) image);
                IValue out = ScriptModules.run(module, "encode", ix, w.list())) {
            return out.toTensorArray((PtNDManager) image.getManager());
        } finally {
            weights.release(w);
        }
    }

    /** Image [B, in, H, W] -> diffusion-model latents [B, latent, H/f, W/f] from the posterior mean. */
    NDArray toLatents(NDArray image) {
        return call("to_latents", image);
    }

    private NDArray call(String method, NDArray x) {
        ScriptWeights.Lease w = weights.acquire();
        try (IValue ix = IValue.from((PtNDArray) x);
                IValue out = ScriptModules.run(module, method, ix, w.list())) {
            return out.toTensor((PtNDManager) x.getManager());
        } finally {
            weights.release(w);
        }
    }
}
