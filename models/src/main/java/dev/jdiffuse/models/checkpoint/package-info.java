/**
 * Single-file checkpoints as model sites share them: {@link dev.jdiffuse.models.checkpoint.CheckpointDetector} reads
 * the family (SD 1.x, SD 2.x, SDXL) and every component's diffusers config from the keys and tensor shapes of an
 * original (CompVis / SGM) file, as ComfyUI's model detection does, and {@link
 * dev.jdiffuse.models.checkpoint.Sd3CheckpointDetector} those of an SD 3 / 3.5 file (MMDiT, VAE, CLIP-L, CLIP-G and
 * the optional T5 encoder); {@link
 * dev.jdiffuse.models.checkpoint.TextEncoderSource} says where each CLIP text encoder lives (transformers naming or an
 * OpenCLIP tower, mapped by {@link dev.jdiffuse.models.clip.OpenClipTextKeys}); {@link
 * dev.jdiffuse.models.checkpoint.PickleCheckpoints} refuses PyTorch pickles, which run arbitrary code when loaded.
 */
package dev.jdiffuse.models.checkpoint;
