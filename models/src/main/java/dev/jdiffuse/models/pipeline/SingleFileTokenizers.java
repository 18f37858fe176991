package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.clip.BundledClipVocabulary;
import dev.jdiffuse.models.clip.ClipSpecialTokens;
import dev.jdiffuse.models.clip.ClipTokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Where a single-file checkpoint's CLIP tokenizer comes from (every family that bundles CLIP encoders: SD 1/2/XL and
 * SD 3), in this order: the config folder's {@code tokenizer/} or {@code tokenizer_2/}; CLIP's vocabulary bundled in
 * the jar when the encoder has its 49,408 tokens; a {@code <name>.tokenizer_2/} (second encoder) or
 * {@code <name>.tokenizer/} or {@code tokenizer/} folder beside the file (test models with other vocabularies; one
 * folder serves both encoders, the second padding as OpenCLIP does); else a message saying what to put where.
 */
public final class SingleFileTokenizers {

    private SingleFileTokenizers() {
    }

    /**
     * @param checkpoint the single file
     * @param config its config folder, or null
     * @param n 1 for the first encoder, 2 for the second
     * @param openClipPad whether the bundled vocabulary pads with {@code !} (OpenCLIP) instead of
     *     {@code <|endoftext|>}
     * @param vocab the encoder's vocabulary size (its token embedding's rows)
     * @param prefix the encoder's key prefix in the file, for the message
     */
    public static ClipTokenizer clip(Path checkpoint, Path config, int n, boolean openClipPad, int vocab,
            String prefix) {
        Path folder = config == null ? null : config.resolve(ConfigFolder.component("tokenizer", n));
        if (folder != null && Files.isDirectory(folder)) {
            return ClipTokenizer.load(folder);
        }
        if (vocab == BundledClipVocabulary.VOCAB_SIZE) {
            return BundledClipVocabulary.tokenizer(openClipPad ? BundledClipVocabulary.openClipSpecials()
                    : BundledClipVocabulary.sd1Specials());
        }
        String stem = Pipelines.nameOf(checkpoint);
        Path own = checkpoint.resolveSibling(stem + ".tokenizer_2");
        if (n == 2 && Files.isDirectory(own)) {
            return ClipTokenizer.load(own);
        }
        for (Path p : List.of(checkpoint.resolveSibling(stem + ".tokenizer"), checkpoint.resolveSibling("tokenizer"))) {
            if (Files.isDirectory(p)) {
                ClipSpecialTokens s = ClipSpecialTokens.read(p);
                return n == 2 ? ClipTokenizer.load(p, new ClipSpecialTokens(s.bos(), s.eos(),
                        BundledClipVocabulary.OPEN_CLIP_PAD, s.unk(), s.modelMaxLength())) : ClipTokenizer.load(p);
            }
        }
        throw new CheckpointFormatException(checkpoint + ": its text encoder (" + prefix + ") has "
                + vocab + " tokens, not CLIP's " + BundledClipVocabulary.VOCAB_SIZE + ", so the CLIP vocabulary "
                + "bundled with jdiffuse does not fit it; put its tokenizer (vocab.json + merges.txt, or "
                + "tokenizer.json) in " + checkpoint.resolveSibling(stem + ".tokenizer") + ", or a diffusers config "
                + "folder in " + checkpoint.resolveSibling(stem + ".config"));
    }
}
