package dev.jdiffuse.models.lora;

import java.util.Arrays;

/**
 * One adapted layer of a LoRA file: {@code delta W = (alpha / rank) up @ down}.
 *
 * @param target the model part it adapts: {@code unet}, {@code transformer}, {@code text_encoder} or
 *     {@code text_encoder_2}
 * @param name the layer as the file names it: kohya's underscored path ({@code down_blocks_0_attentions_0_proj_in},
 *     or LDM-style {@code input_blocks_1_1_proj_in}, or FLUX's original {@code double_blocks_0_img_attn_qkv}) or
 *     PEFT's dotted one ({@code down_blocks.0.attentions.0.proj_in})
 * @param dotted whether {@code name} is a dotted module path (PEFT) rather than an underscored one (kohya)
 * @param downKey the file's key of {@code down} [rank, in] or [rank, in, kh, kw] (LoCon)
 * @param upKey the file's key of {@code up} [out, rank] or [out, rank, 1, 1]
 * @param alphaKey the file's key of the scalar alpha, or null (alpha = rank)
 */
public record LoraModule(String target, String name, boolean dotted, String downKey, long[] downShape, String upKey,
        long[] upShape, String alphaKey) {

    /** The file's keys of this layer, for error messages. */
    public String keys() {
        return alphaKey == null ? downKey + ", " + upKey : downKey + ", " + upKey + ", " + alphaKey;
    }

    /** The LoRA rank r (rows of {@code down}). */
    public long rank() {
        return downShape[0];
    }

    /** Output features (rows of {@code up}). */
    public long outFeatures() {
        return upShape[0];
    }

    /** Input elements of one output: in x kh x kw. */
    public long inElements() {
        return Arrays.stream(downShape).skip(1).reduce(1, (a, b) -> a * b);
    }
}
