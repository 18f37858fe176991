package dev.jdiffuse.models.lora;

import java.util.Objects;

/**
 * One LoRA of a request: its name (as the client gave it, for metadata), the file and the multiplier {@code scale}
 * (AUTOMATIC1111's {@code <lora:name:scale>}, diffusers' {@code cross_attention_kwargs={"scale": s}}).
 */
public record LoraSpec(String name, LoraFile file, double scale) {

    public LoraSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(file, "file");
    }
}
