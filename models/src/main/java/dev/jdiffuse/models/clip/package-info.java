/**
 * CLIP text side (Radford et al. 2021) as Stable Diffusion uses it.
 * <ul>
 *   <li>{@link dev.jdiffuse.models.clip.ClipTokenizer}: {@code load(tokenizerFolder)}, {@code encode(text)} (raw
 *       ids), {@code encodePadded(text[, maxLength])} (BOS + ids + EOS + pad to 77);</li>
 *   <li>{@link dev.jdiffuse.models.clip.ClipTextModel}: {@code load(textEncoderFolder, manager, dtype)} or
 *       {@code loadSingleFile(config, checkpoint, manager, dtype)}, then {@code encode(stepManager, int[][] ids)}
 *       returning a {@link dev.jdiffuse.models.clip.ClipTextOutput} ({@code lastHiddenState}, {@code penultimate()} /
 *       {@code hiddenStates(fromEnd)}, {@code pooled}, {@code textEmbeds});</li>
 *   <li>{@link dev.jdiffuse.models.clip.ClipTextKeys}: the checkpoint-name table (transformers folders and original
 *       single-file checkpoints); {@link dev.jdiffuse.models.clip.OpenClipTextKeys}: OpenCLIP towers (SD 2.x, SDXL's
 *       second encoder: fused in_proj split into q/k/v, text_projection transposed);</li>
 *   <li>{@link dev.jdiffuse.models.clip.BundledClipVocabulary}: OpenAI's CLIP vocabulary shipped in the jar, for
 *       single files without a tokenizer folder.</li>
 * </ul>
 */
package dev.jdiffuse.models.clip;
