package dev.jdiffuse.models.lora;

/** How a LoRA file names its tensors. */
public enum LoraFormat {
    /**
     * kohya-ss sd-scripts, as model sites share them: {@code lora_unet_<module>}, {@code lora_te_<module>} (SDXL:
     * {@code lora_te1_}, {@code lora_te2_}; FLUX.1: {@code lora_te1_} for CLIP-L), the module path with {@code .}
     * replaced by {@code _}, each with {@code .lora_down.weight}, {@code .lora_up.weight} and an optional scalar
     * {@code .alpha}. FLUX.1's {@code lora_unet_} names are those of Black Forest Labs' original modules
     * ({@code double_blocks_0_img_attn_qkv}), fused ones included. ComfyUI's spelling of the same keys
     * ({@code diffusion_model.<dotted path>.lora_down.weight}, {@code text_encoders.clip_l.transformer.}) is read as
     * this format, and so are {@code lora_transformer_<module>} layers (a diffusers module path underscored, as
     * some trainers write FLUX LoRAs).
     */
    KOHYA,
    /**
     * diffusers / PEFT: {@code unet.<module>.lora_A.weight}, {@code .lora_B.weight} (also {@code transformer.},
     * {@code text_encoder.}, {@code text_encoder_2.}), the module path dotted; an optional {@code .alpha}.
     */
    PEFT
}
