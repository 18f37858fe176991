package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.awt.image.BufferedImage;

import java.util.List;
import java.util.Map;

/**
 * AUTOMATIC1111's hires fix ({@code StableDiffusionProcessingTxt2Img.sample_hr_pass}): the base image's latents are
 * upscaled (in latent space, or decoded, resized and encoded again), fresh noise is drawn from the seed at the new
 * size, and an image-to-image pass runs exactly {@code steps} steps of a schedule of
 * {@code floor(steps / min(strength, 0.999))} (A1111's {@code setup_img2img_steps} with explicit steps), i.e. it enters
 * the schedule at step {@code N - steps} with the latents noised to that level.
 */
public final class HiresFix {

    /** Upscaler names the API accepts: latent bilinear (A1111's "Latent"), latent nearest, or bicubic on pixels. */
    public static final List<String> UPSCALERS = List.of("latent", "latent-nearest", "bicubic");

    /** The names AUTOMATIC1111 writes in {@code Hires upscaler: ...}. */
    private static final Map<String, String> A1111_NAMES = Map.of("latent", "Latent", "latent-nearest",
            "Latent (nearest)", "bicubic", "Bicubic");

    /** torch's {@code interpolate} modes as DJL's PyTorch engine numbers them (0 nearest, 1 bilinear). */
    private static final Map<String, Integer> MODES = Map.of("latent", 1, "latent-nearest", 0);

    private HiresFix() {
    }

    /** Whether {@code upscaler} works in latent space (no decode/encode round trip). */
    public static boolean inLatentSpace(String upscaler) {
        return MODES.containsKey(upscaler);
    }

    /** AUTOMATIC1111's name for the PNG parameters, e.g. "Latent". */
    public static String a1111Name(String upscaler) {
        return A1111_NAMES.getOrDefault(upscaler, upscaler);
    }

    /**
     * The length of the schedule whose last {@code steps} steps the pass runs: {@code floor(steps / min(s, 0.999))},
     * at most {@code trainSteps - 1} (diffusers' discrete schedules have no more levels, and "leading" spacing with
     * {@code steps_offset} 1 would index timestep {@code trainSteps} at exactly {@code trainSteps}; A1111's
     * k-diffusion schedules would interpolate, which a low strength then only approximates).
     */
    public static int scheduleSteps(int steps, double strength, int trainSteps) {
        return Math.max(steps, Math.min(trainSteps - 1, (int) (steps / Math.min(strength, 0.999))));
    }

    /**
     * Latents [B, C, h, w] resized to [B, C, height, width] with torch's {@code interpolate} (no antialiasing,
     * {@code align_corners=False}), as A1111's latent upscalers.
     */
    static NDArray upscaleLatents(NDArray latents, int height, int width, String upscaler) {
        Integer mode = MODES.get(upscaler);
        if (mode == null) {
            throw new IllegalArgumentException("not a latent upscaler: " + upscaler);
        }
        return latents.getNDArrayInternal().interpolation(new long[] {height, width}, mode, false);
    }

    /**
     * Images [B, 3, H, W] in [0, 1] resized (bicubic, on the 8-bit images as an image upscaler sees them) to
     * [B, 3, height, width] in {@code manager}.
     */
    static NDArray resizeImages(NDManager manager, NDArray images, int width, int height) {
        NDList rows = new NDList();
        for (BufferedImage image : Images.toBufferedImages(images)) {
            rows.add(Images.fromBufferedImage(manager, image, width, height));
        }
        return rows.size() == 1 ? rows.get(0) : NDArrays.concat(rows, 0);
    }
}
