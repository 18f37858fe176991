package dev.jdiffuse.models.vae;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.ThrowingConsumer;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tiled coding wired to a real {@code AutoencoderKL} ({@code vae_kl}, float32): where the input fits in one tile it is
 * the untiled call; otherwise tiles of the configured size are coded by the VAE itself and faded as diffusers fades
 * them. The fade arithmetic is pinned by {@link TiledCodingTest}; here the parts are checked against the VAE's own
 * calls on the same tiles. The fixture's VAE has 4 levels (8 pixels a latent); its tiles are chosen so that 8x8
 * latents (64x64 pixels) make 3x3 tiles.
 */
class TiledVaeTest {

    private static final String CASE = "vae_kl";
    private static final double OVERLAP = TiledCoding.DIFFUSERS_OVERLAP;

    @TestFactory
    List<DynamicTest> tiledVae() {
        return Fixtures.checks(CASE,
                Fixtures.check("one tile is the untiled call", withVae(TiledVaeTest::oneTile)),
                Fixtures.check("decode: tiles of the VAE's own decoding, faded", withVae(TiledVaeTest::decode)),
                Fixtures.check("encode: tiles of the VAE's own moments", withVae(TiledVaeTest::encode)),
                Fixtures.check("sizes that are not a multiple of the latent scale are refused",
                        withVae(TiledVaeTest::refusesOddTiles)));
    }

    private interface VaeCheck {
        void run(AutoencoderKL vae, SafetensorsFile io, NDManager act);
    }

    private static ThrowingConsumer<Path> withVae(VaeCheck check) {
        return dir -> {
            try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                    SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
                check.run(AutoencoderKL.load(dir, weights, DataType.FLOAT32), io, act);
            }
        };
    }

    private static void oneTile(AutoencoderKL vae, SafetensorsFile io, NDManager act) {
        NDArray latents = FixtureIo.tensor(io, "latents", act); // [2, 4, 8, 8]: 64 pixels a side
        int f = vae.config().downscale();
        int whole = (int) latents.getShape().get(3) * f;
        same("decode", vae.decode(latents), vae.decodeTiled(latents, whole, OVERLAP));
        same("latentsToImage", vae.latentsToImage(latents), vae.latentsToImageTiled(latents, whole, OVERLAP));
        NDArray image = FixtureIo.tensor(io, "image", act);
        LatentDistribution plain = vae.encode(image);
        LatentDistribution tiled = vae.encodeTiled(image, (int) image.getShape().get(3), OVERLAP);
        same("encode mean", plain.mean(), tiled.mean());
        same("encode logvar", plain.logvar(), tiled.logvar());
    }

    private static void decode(AutoencoderKL vae, SafetensorsFile io, NDManager act) {
        NDArray latents = FixtureIo.tensor(io, "latents", act);
        int f = vae.config().downscale();
        int tile = latentTile(latents.getShape().get(3));
        int pixels = tile * f;
        int stride = (int) (tile * (1 - OVERLAP));
        int blend = (int) (pixels * OVERLAP);
        int keep = pixels - blend;
        int before = managed(act);
        NDArray tiled = vae.decodeTiled(latents, pixels, OVERLAP);
        assertEquals(before + 1, managed(act), "decodeTiled leaves only its output");
        assertEquals(vae.decode(latents).getShape(), tiled.getShape());
        assertFalse(tiled.isNaN().any().getBoolean());
        NDArray t00 = vae.decode(latents.get(new NDIndex(":, :, 0:{}, 0:{}", tile, tile)));
        NDArray t01 = vae.decode(latents.get(new NDIndex(":, :, 0:{}, {}:{}", tile, stride, stride + tile)));
        // the first tile's kept square is untouched: nothing above it or to its left
        same("first tile", t00.get(new NDIndex(":, :, :{}, :{}", keep, keep)),
                tiled.get(new NDIndex(":, :, :{}, :{}", keep, keep)));
        // the second tile of the first row starts with a fade from the first tile's last columns (blend_h)
        float[] a = t00.get(new NDIndex(":, :, :{}, {}:", keep, pixels - blend)).toFloatArray();
        float[] b = t01.get(new NDIndex(":, :, :{}, :{}", keep, blend)).toFloatArray();
        float[] expected = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            int x = i % blend;
            expected[i] = a[i] * (float) (1 - (double) x / blend) + b[i] * (float) ((double) x / blend);
        }
        assertArrayEquals(expected, tiled.get(new NDIndex(":, :, :{}, {}:{}", keep, keep, keep + blend))
                .toFloatArray(), 0f, "blend_h of the first row's second tile");
        // and the tiles differ from one decoding of the whole (GroupNorm statistics per tile): tiling happened
        assertTrue(tiled.sub(vae.decode(latents)).abs().max().getFloat() > 1e-6f,
                "the tiled result is the untiled one");
    }

    private static void encode(AutoencoderKL vae, SafetensorsFile io, NDManager act) {
        NDArray image = FixtureIo.tensor(io, "image", act); // [1, 3, 64, 64]
        int f = vae.config().downscale();
        int latentTile = latentTile(image.getShape().get(3) / f);
        int pixels = latentTile * f;
        int keep = latentTile - (int) (latentTile * OVERLAP);
        int before = managed(act);
        LatentDistribution tiled = vae.encodeTiled(image, pixels, OVERLAP);
        assertEquals(before + 2, managed(act), "encodeTiled leaves only the mean and the log-variance");
        LatentDistribution plain = vae.encode(image);
        assertEquals(plain.mean().getShape(), tiled.mean().getShape());
        LatentDistribution first = vae.encode(image.get(new NDIndex(":, :, :{}, :{}", pixels, pixels)));
        same("first tile's mean", first.mean().get(new NDIndex(":, :, :{}, :{}", keep, keep)),
                tiled.mean().get(new NDIndex(":, :, :{}, :{}", keep, keep)));
        same("first tile's logvar", first.logvar().get(new NDIndex(":, :, :{}, :{}", keep, keep)),
                tiled.logvar().get(new NDIndex(":, :, :{}, :{}", keep, keep)));
        assertTrue(tiled.logvar().max().getFloat() <= 20f && tiled.logvar().min().getFloat() >= -30f);
    }

    private static void refusesOddTiles(AutoencoderKL vae, SafetensorsFile io, NDManager act) {
        NDArray latents = FixtureIo.tensor(io, "latents", act);
        int f = vae.config().downscale();
        assertThrows(IllegalArgumentException.class, () -> vae.decodeTiled(latents, 4 * f + 1, OVERLAP));
    }

    /**
     * A tile side in latents that cuts a side of {@code latents} latents into 2 or more tiles: half the side, a
     * multiple of 4 (so that diffusers' stride, 3/4 of a tile, is whole and the kept squares meet exactly), at least 4.
     */
    private static int latentTile(long latents) {
        return (int) Math.max(4, latents / 2 / 4 * 4);
    }

    private static void same(String what, NDArray expected, NDArray actual) {
        assertEquals(expected.getShape(), actual.getShape(), what + ": shape");
        assertArrayEquals(expected.toType(DataType.FLOAT32, false).toFloatArray(),
                actual.toType(DataType.FLOAT32, false).toFloatArray(), 0f, what);
    }

    private static int managed(NDManager m) {
        return ((BaseNDManager) m).getManagedArrays().size();
    }
}
