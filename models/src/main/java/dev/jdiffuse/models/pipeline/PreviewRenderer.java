package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.vae.AutoencoderTiny;
import dev.jdiffuse.models.vae.LatentPreview;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Turns the sampler's current x0 prediction into a {@link Preview}: a linear latent-to-RGB projection (cheap, at
 * latent resolution), the tiny autoencoder TAESD (sharper, 8x), or the raw latent as float16 for the client. Works on
 * the first batch row only. Runs inside the step's sub-manager, so what it creates is freed with the step.
 *
 * @param projection the family's latent-to-RGB factors, or null if none are known
 * @param taesd a tiny autoencoder for this latent space, or null
 */
public record PreviewRenderer(LatentPreview projection, AutoencoderTiny taesd) {

    public boolean supports(PreviewSpec.Method method) {
        return switch (method) {
            case NONE, LATENT -> true;
            case RGB -> projection != null;
            case TAESD -> taesd != null;
        };
    }

    /** @param denoised [B, C, h, w] diffusion-model latents (x0 prediction) */
    public Preview render(int step, NDArray denoised, PreviewSpec spec) {
        NDArray first = denoised.get("0:1");
        return switch (spec.method()) {
            case RGB -> Preview.ofImage(step, spec.method(),
                    Images.fitWithin(Images.toBufferedImages(projection.toRgb(first)).get(0), spec.maxSize()));
            case TAESD -> Preview.ofImage(step, spec.method(),
                    Images.fitWithin(Images.toBufferedImages(taesd.latentsToImage(first)).get(0), spec.maxSize()));
            case LATENT -> latent(step, first);
            case NONE -> throw new IllegalArgumentException("no preview requested");
        };
    }

    private static Preview latent(int step, NDArray first) {
        Shape s = first.getShape();
        NDArray half = first.toType(DataType.FLOAT16, false);
        ByteBuffer src = half.toByteBuffer().order(ByteOrder.nativeOrder());
        byte[] bytes = new byte[src.remaining()];
        ByteBuffer dst = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        while (src.remaining() >= 2) {
            dst.putShort(src.getShort());
        }
        new NDList(half).close();
        return Preview.ofLatent(step, bytes, (int) s.get(1), (int) s.get(2), (int) s.get(3));
    }
}
