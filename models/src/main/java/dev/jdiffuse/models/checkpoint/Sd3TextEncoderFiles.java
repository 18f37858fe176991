package dev.jdiffuse.models.checkpoint;

import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.t5.T5Keys;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * SD 3 / 3.5 text encoders shipped as separate files beside an MMDiT-only checkpoint, as Stability's repositories lay
 * them out ({@code sd3.5_large.safetensors} next to {@code text_encoders/clip_l.safetensors},
 * {@code clip_g.safetensors}, {@code t5xxl_fp16.safetensors}, {@code t5xxl_fp8_e4m3fn.safetensors} or ComfyUI's
 * {@code t5xxl_fp8_e4m3fn_scaled.safetensors} (dequantized as it is read, see {@code QuantizedCheckpoints}), each in
 * transformers' naming, as ComfyUI's text-encoder loader reads them): the checkpoint is seen with each encoder it lacks
 * added under the prefix a bundling file gives it ({@code text_encoders.clip_l.transformer.}, ...), so detection and
 * loading are those of a bundling file. An encoder the checkpoint holds is never replaced. Several {@code t5xxl*}
 * files: the first in name order ({@code fp16} before {@code fp8}). A {@code text_projection.weight} in
 * {@code clip_l.safetensors} is left out: SD 3 conditions on CLIP-L's unprojected pooled output (Stability's reference
 * inference and ComfyUI never apply it, and the file Stability ships has none), so a replacement CLIP-L that carries
 * OpenAI's projection is used the same way.
 */
public final class Sd3TextEncoderFiles implements AutoCloseable {

    /** The folder beside the checkpoint that holds the encoder files. */
    public static final String FOLDER = "text_encoders";
    private static final String T5 = T5Keys.SINGLE_FILE_PREFIXES.get(0);
    private static final String CLIP_PROJECTION = "text_projection.weight";

    private final List<SafetensorsStateDict> opened = new ArrayList<>();
    private final List<String> added = new ArrayList<>();
    private final StateDict view;

    private Sd3TextEncoderFiles(Path checkpoint, StateDict file) {
        Path dir = checkpoint.resolveSibling(FOLDER);
        Map<String, Source> table = new LinkedHashMap<>();
        for (String k : file.keys()) {
            table.put(k, new Source(file, k));
        }
        try {
            if (Files.isDirectory(dir)) {
                addIfMissing(file, Sd3CheckpointDetector.CLIP_L, dir.resolve("clip_l.safetensors"), table);
                addIfMissing(file, Sd3CheckpointDetector.CLIP_G, dir.resolve("clip_g.safetensors"), table);
                Path t5 = firstT5(dir);
                if (t5 != null) {
                    addIfMissing(file, T5, t5, table);
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        this.view = added.isEmpty() ? file : StateDict.of(table.keySet(), k -> table.get(k).shape(),
                (k, manager, dtype) -> table.get(k).dict().load(table.get(k).key(), manager, dtype));
    }

    /** Where one key of the view comes from. */
    private record Source(StateDict dict, String key) {
        long[] shape() {
            return dict.shape(key);
        }
    }

    /** {@code file} (read from {@code checkpoint}) with the encoders of {@code text_encoders/} beside it it lacks. */
    public static Sd3TextEncoderFiles beside(Path checkpoint, StateDict file) {
        return new Sd3TextEncoderFiles(checkpoint, file);
    }

    /** The checkpoint with the added encoders. */
    public StateDict view() {
        return view;
    }

    /** The encoder files added (for the log); empty when none was needed or found. */
    public List<String> added() {
        return List.copyOf(added);
    }

    private void addIfMissing(StateDict file, String prefix, Path encoder, Map<String, Source> table) {
        if (!Files.isRegularFile(encoder) || file.keys().stream().anyMatch(k -> k.startsWith(prefix))) {
            return;
        }
        SafetensorsStateDict sd = SafetensorsStateDict.open(encoder);
        opened.add(sd);
        added.add(encoder.toString());
        for (String k : sd.keys()) {
            if (!(prefix.equals(Sd3CheckpointDetector.CLIP_L) && k.equals(CLIP_PROJECTION))) {
                table.put(prefix + k, new Source(sd, k));
            }
        }
    }

    private static Path firstT5(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> {
                String n = p.getFileName().toString();
                return n.startsWith("t5xxl") && n.endsWith(".safetensors");
            }).sorted().findFirst().orElse(null);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    @Override
    public void close() {
        opened.forEach(SafetensorsStateDict::close);
    }
}
