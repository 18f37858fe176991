package dev.jdiffuse.models.checkpoint;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.t5.T5Keys;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A FLUX.1 single file with the components it lacks, gathered the way people keep them, as one {@link StateDict}:
 * <ul>
 *   <li>the transformer: Black Forest Labs' names, bare ({@code flux1-dev.safetensors}) or under
 *       {@code model.diffusion_model.} (ComfyUI checkpoints);</li>
 *   <li>CLIP-L and T5: in the file under {@code text_encoders.clip_l.transformer.} and
 *       {@code text_encoders.t5xxl.transformer.} (ComfyUI checkpoints), else from {@code text_encoders/clip_l.safetensors}
 *       and {@code text_encoders/t5xxl*.safetensors} beside it ({@link Sd3TextEncoderFiles}, the same folder SD 3.5
 *       files use);</li>
 *   <li>the VAE (LDM names): in the file under {@code vae.} (ComfyUI) or {@code first_stage_model.}, else
 *       {@code ae.safetensors} (Black Forest Labs' file, bare names) beside it or in {@code vae/} beside it.</li>
 * </ul>
 * In the view the VAE is always under {@code first_stage_model.}. What is still missing is named with where to put
 * it ({@link #detect}).
 */
public final class FluxSingleFile implements AutoCloseable {

    /** Where the view keeps the VAE. */
    public static final String VAE = "first_stage_model.";
    /** ComfyUI's prefix for a FLUX checkpoint's VAE. */
    public static final String COMFY_VAE = "vae.";
    /** Black Forest Labs' autoencoder file. */
    public static final String AE_FILE = "ae.safetensors";
    public static final String CLIP_L = Sd3CheckpointDetector.CLIP_L;
    public static final String T5 = T5Keys.SINGLE_FILE_PREFIXES.get(0);
    /** diffusers' FLUX.1 VAE statistics ({@code scaling_factor}, {@code shift_factor}). */
    public static final double VAE_SCALING = 0.3611;
    public static final double VAE_SHIFT = 0.1159;

    private final Sd3TextEncoderFiles encoders;
    private final List<SafetensorsStateDict> opened = new ArrayList<>();
    private final List<String> added = new ArrayList<>();
    private final StateDict view;

    private FluxSingleFile(Path checkpoint, StateDict file) {
        this.encoders = Sd3TextEncoderFiles.beside(checkpoint, file);
        try {
            StateDict base = encoders.view();
            added.addAll(encoders.added());
            Map<String, Source> table = new LinkedHashMap<>();
            boolean hasVae = false;
            for (String k : base.keys()) {
                String name = k.startsWith(COMFY_VAE) ? VAE + k.substring(COMFY_VAE.length()) : k;
                hasVae |= name.startsWith(VAE);
                table.put(name, new Source(base, k));
            }
            if (!hasVae) {
                Path ae = aeBeside(checkpoint);
                if (ae != null) {
                    SafetensorsStateDict sd = SafetensorsStateDict.open(ae);
                    opened.add(sd);
                    added.add(ae.toString());
                    for (String k : sd.keys()) {
                        table.put(VAE + k, new Source(sd, k));
                    }
                }
            }
            this.view = StateDict.of(table.keySet(), k -> table.get(k).dict().shape(table.get(k).key()),
                    (k, manager, dtype) -> table.get(k).dict().load(table.get(k).key(), manager, dtype));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Where one key of the view comes from. */
    private record Source(StateDict dict, String key) {
    }

    /** {@code file} (read from {@code checkpoint}) with what it lacks from beside it. */
    public static FluxSingleFile beside(Path checkpoint, StateDict file) {
        return new FluxSingleFile(checkpoint, file);
    }

    private static Path aeBeside(Path checkpoint) {
        for (Path p : List.of(checkpoint.resolveSibling(AE_FILE), checkpoint.resolveSibling("vae").resolve(AE_FILE))) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    /** The transformer, CLIP-L, T5 and VAE, the VAE under {@link #VAE}. */
    public StateDict view() {
        return view;
    }

    /** The files added from beside the checkpoint (for the log); empty when the file held everything. */
    public List<String> added() {
        return List.copyOf(added);
    }

    /** The hyper-parameters of the text encoders and VAE read from the view's shapes. */
    public record Components(TextEncoderSource clipL, T5Config t5, AutoencoderKLConfig vae) {
    }

    /**
     * Detects CLIP-L ({@code CLIPTextModel}, quick-GELU; FLUX reads its pooled output), T5 and the VAE (FLUX.1's
     * statistics, 1024 px); fails naming every missing component and where it is looked for.
     */
    public Components detect(String source) {
        CheckpointShapes s = new CheckpointShapes(view, source);
        List<String> missing = new ArrayList<>();
        String clipBase = s.has(CLIP_L + "text_model.embeddings.token_embedding.weight") ? CLIP_L + "text_model."
                : CLIP_L;
        if (!s.has(clipBase + "embeddings.token_embedding.weight")) {
            missing.add("CLIP-L (" + CLIP_L + "* in the file, or " + Sd3TextEncoderFiles.FOLDER
                    + "/clip_l.safetensors beside it)");
        }
        if (!s.has(T5 + "shared.weight") && !s.has(T5 + "encoder.embed_tokens.weight")) {
            missing.add("T5 (" + T5 + "* in the file, or " + Sd3TextEncoderFiles.FOLDER
                    + "/t5xxl_fp16.safetensors beside it)");
        }
        if (!s.has(VAE + "encoder.conv_in.weight")) {
            missing.add("the VAE (" + COMFY_VAE + "* or " + VAE + "* in the file, or " + AE_FILE + " beside it or in "
                    + "vae/ beside it)");
        }
        if (!missing.isEmpty()) {
            throw new CheckpointFormatException(source + ": a FLUX.1 file without " + String.join(", ", missing)
                    + ". Black Forest Labs' flux1-dev / flux1-schnell files hold the transformer only; or serve the "
                    + "diffusers folder");
        }
        long[] tok = s.shape(clipBase + "embeddings.token_embedding.weight");
        ObjectNode c = CheckpointDetector.clipConfig((int) tok[0], (int) tok[1],
                s.dim(clipBase + "embeddings.position_embedding.weight", 0),
                s.count(clipBase + "encoder.layers.", ".layer_norm1.weight"),
                s.dim(clipBase + "encoder.layers.0.mlp.fc1.weight", 0), "quick_gelu");
        c.putArray("architectures").add(ClipTextConfig.TEXT_MODEL);
        TextEncoderSource clip = new TextEncoderSource(CLIP_L, false, ClipTextConfig.from(ConfigJson.of(source
                + " (detected CLIP-L)", c)));
        T5Config t5 = T5Config.detect(view.renamed(T5Keys::fromSingleFile));
        AutoencoderKLConfig v = CheckpointDetector.vae(s, CheckpointFamily.FLUX, false);
        AutoencoderKLConfig vae = new AutoencoderKLConfig(v.inChannels(), v.outChannels(), v.downBlockTypes(),
                v.upBlockTypes(), v.blockOutChannels(), v.layersPerBlock(), v.actFn(), v.latentChannels(),
                v.normNumGroups(), 1024, VAE_SCALING, VAE_SHIFT, null, null, true, v.useQuantConv(),
                v.usePostQuantConv(), v.midBlockAddAttention());
        return new Components(clip, t5, vae);
    }

    @Override
    public void close() {
        opened.forEach(SafetensorsStateDict::close);
        encoders.close();
    }
}
