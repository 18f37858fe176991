package dev.jdiffuse.models.pipeline;

import java.awt.image.BufferedImage;

/**
 * One ControlNet application: which ControlNet, its control image (resized by the pipeline to the output size),
 * its conditioning scale, and the fraction of the steps it is active in ({@code start <= i/steps},
 * {@code (i+1)/steps <= end}, as diffusers' {@code control_guidance_start/end}).
 */
public record ControlSpec(String model, BufferedImage image, double scale, double start, double end) {
}
