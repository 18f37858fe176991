/**
 * The T5 v1.1 text encoder (Raffel et al. 2020) as SD3/3.5 (and FLUX) use it.
 * <ul>
 *   <li>{@link dev.jdiffuse.models.t5.T5Tokenizer}: {@code load(tokenizerFolder)} (a {@code tokenizer.json}) or
 *       {@code bundled()} (the T5 v1.1 vocabulary shipped in this jar), then {@code encodePadded(prompts, maxLength)}
 *       (ids + {@code </s>} + {@code <pad>} to maxLength, truncating);</li>
 *   <li>{@link dev.jdiffuse.models.t5.T5EncoderModel}: {@code load(textEncoderFolder, manager, dtype)} or
 *       {@code loadSingleFile(checkpoint, manager, dtype)}, then {@code encode(stepManager, int[][] ids)} returning
 *       {@code last_hidden_state} [B, L, d_model]. BF16 checkpoints load into FLOAT32 or FLOAT16;</li>
 *   <li>{@link dev.jdiffuse.models.t5.T5Config} (transformers' config.json, or {@code detect} from shapes) and
 *       {@link dev.jdiffuse.models.t5.T5Keys} (where single files keep the encoder).</li>
 * </ul>
 */
package dev.jdiffuse.models.t5;
