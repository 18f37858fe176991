package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;
import static dev.jdiffuse.samplers.nd.ScalarOps.div;

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
 * <li>{@link #SDXL}: AUTOMATIC1111's SDXL coefficients in the same {@code cheap_approximation};</li>
 * <li>{@link #SD3}: ComfyUI's {@code latent_rgb_factors} and {@code latent_rgb_factors_bias} of its {@code SD3} latent
 * format ({@code comfy/latent_formats.py}, commit 040a3243468ecefd1f2802592d90458f1ce4d65f of comfyanonymous/ComfyUI),
 * for the 16-channel SD3/SD3.5 VAE; ComfyUI's {@code Latent2RGB} previewer adds the bias before {@code (rgb + 1) / 2}.
 * </li>
 * <li>{@link #FLUX}: ComfyUI's factors and bias of its {@code Flux} latent format (same file), for FLUX.1's
 * 16-channel VAE (latents before 2x2 packing).</li>
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

    public static final LatentPreview SD3 = new LatentPreview(new float[][] {
        {-0.0922f, -0.0175f, 0.0749f},
        {0.0311f, 0.0633f, 0.0954f},
        {0.1994f, 0.0927f, 0.0458f},
        {0.0856f, 0.0339f, 0.0902f},
        {0.0587f, 0.0272f, -0.0496f},
        {-0.0006f, 0.1104f, 0.0309f},
        {0.0978f, 0.0306f, 0.0427f},
        {-0.0042f, 0.1038f, 0.1358f},
        {-0.0194f, 0.0020f, 0.0669f},
        {-0.0488f, 0.0130f, -0.0268f},
        {0.0922f, 0.0988f, 0.0951f},
        {-0.0278f, 0.0524f, -0.0542f},
        {0.0332f, 0.0456f, 0.0895f},
        {-0.0069f, -0.0030f, -0.0810f},
        {-0.0596f, -0.0465f, -0.0293f},
        {-0.1448f, -0.1463f, -0.1189f},
    }, new float[] {0.2394f, 0.2135f, 0.1925f});

    public static final LatentPreview FLUX = new LatentPreview(new float[][] {
        {-0.0346f, 0.0244f, 0.0681f},
        {0.0034f, 0.0210f, 0.0687f},
        {0.0275f, -0.0668f, -0.0433f},
        {-0.0174f, 0.0160f, 0.0617f},
        {0.0859f, 0.0721f, 0.0329f},
        {0.0004f, 0.0383f, 0.0115f},
        {0.0405f, 0.0861f, 0.0915f},
        {-0.0236f, -0.0185f, -0.0259f},
        {-0.0245f, 0.0250f, 0.1180f},
        {0.1008f, 0.0755f, -0.0421f},
        {-0.0515f, 0.0201f, 0.0011f},
        {0.0428f, -0.0012f, -0.0036f},
        {0.0817f, 0.0765f, 0.0749f},
        {-0.1264f, -0.0522f, -0.1103f},
        {-0.0280f, -0.0881f, -0.0499f},
        {-0.1262f, -0.0982f, -0.0778f},
    }, new float[] {-0.0329f, -0.0718f, -0.0851f});

    private final float[] factors;
    private final float[] bias;
    private final int channels;

    /** @param factors [latent channel][R, G, B] */
    public LatentPreview(float[][] factors) {
        this(factors, new float[3]);
    }

    /**
     * @param factors [latent channel][R, G, B]
     * @param bias [R, G, B] added after the projection
     */
    public LatentPreview(float[][] factors, float[] bias) {
        if (bias.length != 3) {
            throw new IllegalArgumentException("bias has " + bias.length + " entries, expected 3");
        }
        this.bias = bias.clone();
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
                .matMul(coefficients).add(latents.getManager().create(bias));
        return div(add(rgb.transpose(0, 3, 1, 2), 1f), 2f).clip(0f, 1f);
    }
}
