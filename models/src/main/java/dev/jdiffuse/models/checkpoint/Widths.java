package dev.jdiffuse.models.checkpoint;

import java.util.List;

/**
 * The conventions shared by every released SD checkpoint for what shapes do not tell: the attention head width and the
 * GroupNorm group count. Test-size models narrower than these conventions get the nearest valid value (documented per
 * method) so that they still load.
 */
final class Widths {

    /** Head width of SD 2.x / SDXL UNet attention and of every CLIP / OpenCLIP text encoder. */
    static final int HEAD_DIM = 64;
    /** GroupNorm groups of every SD UNet and VAE. */
    static final int GROUPS = 32;

    private Widths() {
    }

    /** {@code width / 64}; a width that is not a multiple of 64 (test models only) gets one head. */
    static int headsOf(int width) {
        return width >= HEAD_DIM && width % HEAD_DIM == 0 ? width / HEAD_DIM : 1;
    }

    /** 32 when every width is a multiple of 32; otherwise (test models only) the largest count below 32 dividing all. */
    static int groupsFor(List<Integer> widths) {
        int g = 0;
        for (int w : widths) {
            g = gcd(g, w);
        }
        for (int n = Math.min(GROUPS, g); n > 1; n--) {
            if (g % n == 0) {
                return n;
            }
        }
        return 1;
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}
