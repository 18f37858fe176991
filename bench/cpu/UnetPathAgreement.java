import ai.djl.ndarray.*;
import ai.djl.ndarray.types.*;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.unet.*;
import dev.jdiffuse.bench.RandomStateDict;
/*
 * The UNet's op-by-op and scripted forwards on one random-weight config (fp32, CPU, batch 1, one seed), and the
 * op-by-op forward again with its input scaled by 1 + 1e-6 (how sensitive the network is). Writes both outputs as
 * little-endian float32 files PREFIX-composite.bin / PREFIX-scripted.bin for comparisons across runs (e.g. with
 * -Dai.djl.pytorch.num_threads=1 against the default). Used to bisect the op-by-op path's disagreement at some sizes
 * (docs/perf/scripted-unet.md, "Open"). Run from the repository root after mvn install:
 *   CP="models/target/classes:bench/target/classes:$(mvn -q -o -pl bench dependency:build-classpath -Dmdep.outputFile=/dev/stdout)"
 *   java -Dai.djl.offline=true -cp "$CP" bench/cpu/UnetPathAgreement.java \
 *       '{"sample_size":64,"cross_attention_dim":768,"attention_head_dim":8}' 16 /tmp/sd15-16
 */
public class UnetPathAgreement {
    static void write(String f, float[] v) throws Exception {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(v.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        java.nio.file.Files.write(java.nio.file.Path.of(f), b.array());
    }
    public static void main(String[] a) throws Exception {
        ObjectMapper J = new ObjectMapper();
        ObjectNode c = (ObjectNode) J.readTree(a[0]);
        int latent = Integer.parseInt(a[1]);
        UNet2DConditionConfig cfg = UNet2DConditionConfig.from(ConfigJson.of("UnetPathAgreement", c));
        try (NDManager w = NDManager.newBaseManager()) {
            w.getEngine().setRandomSeed(7);
            UNet2DConditionModel unet = UNet2DConditionModel.load(cfg, new RandomStateDict(new UNet2DConditionModel(cfg), w, false), w, DataType.FLOAT32, "b");
            w.getEngine().setRandomSeed(1);
            NDArray x = w.randomNormal(new Shape(1, 4, latent, latent));
            TextContext ctx = TextContext.of(w.randomNormal(new Shape(1, 77, cfg.crossAttentionDim().get(0))));
            double[] t = {999};
            float[] r = unet.forwardComposite(x, t, ctx, UNetExtras.NONE).toFloatArray();
            float[] s = unet.forward(x, t, ctx, UNetExtras.NONE).toFloatArray();
            float[] r2 = unet.forwardComposite(x.mul(1 + 1e-6f), t, ctx, UNetExtras.NONE).toFloatArray();
            double d2 = 0, m2 = 0;
            for (int i = 0; i < r.length; i++) { d2 = Math.max(d2, Math.abs(r[i] - r2[i])); m2 = Math.max(m2, Math.abs(r[i])); }
            System.out.printf("composite with the input scaled by 1+1e-6: rel %.3e%n", d2 / m2);
            double d = 0, m = 0;
            for (int i = 0; i < r.length; i++) { d = Math.max(d, Math.abs(r[i] - s[i])); m = Math.max(m, Math.abs(r[i])); }
            write(a[2] + "-composite.bin", r); write(a[2] + "-scripted.bin", s);
            System.out.printf("%s latent %d: rel %.3e (max %.3e)%n", a[0], latent, d / m, m);
        }
    }
}
