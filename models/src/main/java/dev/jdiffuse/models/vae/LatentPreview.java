package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * A cheap preview of diffusion-model latents: a fixed linear map of the 4 latent channels to RGB, then
 * {@code ((rgb + 1) / 2).clamp(0, 1)}, at latent resolution (no VAE decode). It is what AUTOMATIC1111's
 * "Approx cheap" live preview ({@code modules/sd_vae_approx.py}, {@code cheap_approximation}) and ComfyUI's
 * "Latent2RGB" previewer do.
 *
 * <p>Coefficients (rows: latent channels, columns: R, G, B), applied to latents as the diffusion model sees them
 * (already multiplied by the VAE scaling factor):
 * <ul>
 * <li>{@link #SD1}: Keturn's least-squares fit for SD 1.x, published at
 * https://discuss.huggingface.co/t/decoding-latents-to-rgb-without-upscaling/23204 and used by AUTOMATIC1111;</li>
 * <li>{@link #SDXL}: AUTOMATIC1111's SDXL coefficients in the same {@code cheap_approximation}.</li>
 * </ul>
 */
public final class LatentPreview {

    public static final LatentPreview SD1 = new LatentPreview(new float[][] {
        {0.298f, 0.207f, 0.208f},
        {0.187f, 0.286f, 0.173f},
        {-0.158f, 0.189f, 0.264f},
        {-0.184f, -0.271f, -0.473f},
    });

    public static final LatentPreview SDXL = new LatentPreview(new float[][] {
        {0.3448f, 0.4168f, 0.4395f},
        {-0.1953f, -0.0290f, 0.0250f},
        {0.1074f, 0.0886f, -0.0163f},
        {-0.3730f, -0.2499f, -0.2088f},
    });

    private final float[] factors;
    private final int channels;

    /** @param factors [latent channel][R, G, B] */
    public LatentPreview(float[][] factors) {
        this.channels = factors.length;
        this.factors = new float[channels * 3];
        for (int c = 0; c < channels; c++) {
            if (factors[c].length != 3) {
                throw new IllegalArgumentException("row " + c + " has " + factors[c].length + " entries, expected 3");
            }
            System.arraycopy(factors[c], 0, this.factors, c * 3, 3);
        }
    }

    /**
     * Latents [B, C, h, w] -> RGB [B, 3, h, w] in [0, 1], float32, in the latents' manager.
     */
    public NDArray toRgb(NDArray latents) {
        Shape s = latents.getShape();
        if (s.dimension() != 4 || s.get(1) != channels) {
            throw new IllegalArgumentException("expected latents [B, " + channels + ", h, w], got " + s);
        }
        NDArray coefficients = latents.getManager().create(factors, new Shape(channels, 3));
        NDArray rgb = latents.toType(DataType.FLOAT32, false).transpose(0, 2, 3, 1)
                .matMul(coefficients);
        return rgb.transpose(0, 3, 1, 2).add(1f).div(2f).clip(0f, 1f);
    }
}
