/**
 * Prompts as AUTOMATIC1111 reads them.
 * <ul>
 *   <li>{@link dev.jdiffuse.models.prompt.PromptParser#parse}: emphasis syntax to (text, weight) segments and BREAK
 *       markers;</li>
 *   <li>{@link dev.jdiffuse.models.prompt.PromptChunker}: segments to 77-token chunks with per-token weights (75
 *       prompt tokens each, BREAK, comma backtracking);</li>
 *   <li>{@link dev.jdiffuse.models.prompt.WeightedPromptEncoder}: chunks through one CLIP text encoder, weighted
 *       with the mean-restoring rescale, concatenated to [B, 77k, D] ({@link dev.jdiffuse.models.prompt.DualClipPromptEncoder}
 *       for SDXL's pair), clip skip via
 *       {@link dev.jdiffuse.models.prompt.ClipLayer};</li>
 *   <li>{@link dev.jdiffuse.models.prompt.VariationNoise#slerp}: variation seeds.</li>
 * </ul>
 * See docs/prompts.md.
 */
package dev.jdiffuse.models.prompt;
