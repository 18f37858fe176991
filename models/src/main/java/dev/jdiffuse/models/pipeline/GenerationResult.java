package dev.jdiffuse.models.pipeline;

import java.awt.image.BufferedImage;
import java.util.List;

/**
 * The images of one request (sRGB, 8 bits per channel) and what is needed to reproduce them.
 *
 * @param images one per batch row
 * @param seed the seed used
 * @param sampler the sampler actually used (the default resolved)
 * @param schedule the schedule actually used
 * @param sigmas the exact noise levels visited
 * @param encodeMillis prompt encoding time
 * @param denoiseMillis sampling loop time
 * @param decodeMillis VAE decoding time
 */
public record GenerationResult(List<BufferedImage> images, long seed, String sampler, String schedule, double[] sigmas,
        long encodeMillis, long denoiseMillis, long decodeMillis) {
}
