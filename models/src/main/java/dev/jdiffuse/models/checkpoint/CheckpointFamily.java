package dev.jdiffuse.models.checkpoint;

/** The model families a single-file checkpoint is recognised as, from its keys and tensor shapes. */
public enum CheckpointFamily {
    /** Stable Diffusion 1.x: convolutional proj_in, one OpenAI CLIP encoder ({@code cond_stage_model.transformer.}). */
    SD1("Stable Diffusion 1.x"),
    /** Stable Diffusion 2.x: linear proj_in, one OpenCLIP encoder ({@code cond_stage_model.model.}). */
    SD2("Stable Diffusion 2.x"),
    /** SDXL base: {@code label_emb} (text_time), CLIP-L + OpenCLIP bigG ({@code conditioner.embedders.0/1}). */
    SDXL("Stable Diffusion XL"),
    /** SDXL refiner: only the OpenCLIP bigG encoder ({@code conditioner.embedders.0.model.}), aesthetic-score ids. */
    SDXL_REFINER("Stable Diffusion XL refiner"),
    /** SD 3 / 3.5 (MMDiT, {@code joint_blocks}). */
    SD3("Stable Diffusion 3/3.5"),
    /** FLUX ({@code double_blocks}). */
    FLUX("FLUX");

    private final String displayName;

    CheckpointFamily(String displayName) {
        this.displayName = displayName;
    }

    public String displayName() {
        return displayName;
    }
}
