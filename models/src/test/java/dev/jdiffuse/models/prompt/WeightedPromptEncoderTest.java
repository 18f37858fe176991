package dev.jdiffuse.models.prompt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTextOutput;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link WeightedPromptEncoder} on the tiny CLIP fixture ({@code clip_text/quick_gelu} with {@code clip_text/tokenizer}):
 * the unweighted one-chunk case must be the plain encoder's output bit for bit; weights and chunks are checked against
 * A1111's formulas evaluated here on the plain encoder's output.
 */
class WeightedPromptEncoderTest {

    private static final String MODEL = "clip_text/quick_gelu";
    private static final String TOKENIZER = "clip_text/tokenizer";

    private static ClipTokenizer tokenizer() {
        return ClipTokenizer.load(Fixtures.require(TOKENIZER));
    }

    private static ClipTextModel model(NDManager weights) {
        return ClipTextModel.load(Fixtures.require(MODEL), weights, DataType.FLOAT32);
    }

    private static int[][] rows(int[] ids, int batch) {
        int[][] out = new int[batch][];
        for (int b = 0; b < batch; b++) {
            out[b] = ids;
        }
        return out;
    }

    @Test
    void unweightedShortPromptEqualsThePlainEncoderExactly() {
        ClipTokenizer tok = tokenizer();
        String prompt = "a painting of a squirrel eating a burger";
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager()) {
            ClipTextModel model = model(weights);
            ClipTextOutput plain = model.encode(step, rows(tok.encodePadded(prompt), 2));
            WeightedEncoding enc = WeightedPromptEncoder.of(tok, model, ClipLayer.clipSkip(1)).encode(step, prompt, 2);
            assertEquals(1, enc.chunks());
            assertArrayEquals(plain.lastHiddenState().getShape().getShape(), enc.context().getShape().getShape());
            assertArrayEquals(plain.lastHiddenState().toFloatArray(), enc.context().toFloatArray(), 0f);
            assertArrayEquals(plain.pooled().toFloatArray(), enc.pooled().toFloatArray(), 0f);
        }
    }

    @Test
    void clipSkipTakesAnEarlierLayerThroughTheFinalNorm() {
        ClipTokenizer tok = tokenizer();
        String prompt = "a red apple on a wooden table";
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager()) {
            ClipTextModel model = model(weights);
            ClipTextOutput plain = model.encode(step, rows(tok.encodePadded(prompt), 1));
            float[] skip2 = WeightedPromptEncoder.of(tok, model, ClipLayer.clipSkip(2)).encode(step, prompt, 1)
                    .context().toFloatArray();
            assertArrayEquals(model.finalLayerNorm(plain.hiddenStates(2)).toFloatArray(), skip2, 0f);
            assertNotEquals(plain.lastHiddenState().toFloatArray()[40], skip2[40], "clip skip 2 differs from 1");
            float[] raw = WeightedPromptEncoder.of(tok, model, ClipLayer.penultimateRaw()).encode(step, prompt, 1)
                    .context().toFloatArray();
            assertArrayEquals(plain.penultimate().toFloatArray(), raw, 0f);
        }
    }

    @Test
    void weightsScaleTokensAndRestoreTheMean() {
        ClipTokenizer tok = tokenizer();
        String prompt = "a (painting:1.5) of a [squirrel]";
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager()) {
            ClipTextModel model = model(weights);
            WeightedPromptEncoder encoder = WeightedPromptEncoder.of(tok, model, ClipLayer.clipSkip(1));
            List<PromptChunk> chunks = encoder.chunks(prompt);
            assertEquals(1, chunks.size());
            // The ids are those of the prompt without the syntax, tokenized whole.
            assertArrayEquals(tok.encodePadded("a painting of a squirrel"), chunks.get(0).tokens());
            double[] w = chunks.get(0).weights();
            int painting = tok.encode("a").length + 1;
            assertEquals(1.5, w[painting]);
            assertEquals(1 / 1.1, w[w.length - 1 - countAfter(tok, chunks.get(0).tokens())], 0.0);

            // The tiny fixture's hidden states have a mean of ~1e-10 (final norm without bias), which makes the
            // rescale factor float noise; so check here that every position is z * w times ONE common factor, and
            // pin the rescale itself on a tensor with a clear mean below.
            float[] z = model.encode(step, rows(chunks.get(0).tokens(), 1)).lastHiddenState().toFloatArray();
            float[] actual = encoder.encode(step, prompt, 1).context().toFloatArray();
            int d = model.config().hiddenSize();
            int big = 0;
            for (int i = 0; i < z.length; i++) {
                if (Math.abs(z[i] * w[i / d]) > Math.abs(z[big] * w[big / d])) {
                    big = i;
                }
            }
            double factor = actual[big] / (z[big] * (double) (float) w[big / d]);
            double[] expected = new double[z.length];
            for (int i = 0; i < z.length; i++) {
                expected[i] = z[i] * (double) (float) w[i / d] * factor;
            }
            Close.assertMaxAbsRelative("z * w * common factor", expected, Close.toDouble(actual), 1e-5);
        }
    }

    @Test
    void originalEmphasisRestoresTheMeanAndNoNormDoesNot() {
        int l = 4;
        int d = 3;
        float[] z = new float[2 * l * d];
        for (int i = 0; i < z.length; i++) {
            z[i] = 0.5f + 0.25f * (i % 7) - 0.1f * (i % 3);
        }
        double[] w = {1.0, 1.5, 1 / 1.1, 2.0};
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray zs = m.create(z, new ai.djl.ndarray.types.Shape(2, l, d));
            float[] original = WeightedPromptEncoder.weighted(zs, w, Emphasis.ORIGINAL).toFloatArray();
            float[] noNorm = WeightedPromptEncoder.weighted(zs, w, Emphasis.NO_NORM).toFloatArray();
            float[] none = WeightedPromptEncoder.weighted(zs, w, Emphasis.NONE).toFloatArray();
            double[] scaled = new double[z.length];
            double before = 0;
            double after = 0;
            for (int i = 0; i < z.length; i++) {
                scaled[i] = z[i] * (double) (float) w[(i / d) % l];
                before += z[i];
                after += scaled[i];
            }
            double[] expected = new double[z.length];
            for (int i = 0; i < z.length; i++) {
                expected[i] = scaled[i] * (before / after);
            }
            Close.assertMaxAbsRelative("ORIGINAL", expected, Close.toDouble(original), 1e-6);
            Close.assertMaxAbsRelative("NO_NORM", scaled, Close.toDouble(noNorm), 1e-6);
            assertArrayEquals(z, none, 0f);
            assertEquals(mean(Close.toDouble(z)), mean(Close.toDouble(original)), 1e-6, "mean restored");
            assertTrue(Math.abs(mean(scaled) - mean(Close.toDouble(z))) > 0.1, "weights moved the mean");
        }
    }

    @Test
    void longPromptConcatenatesChunksAlongTheSequence() {
        ClipTokenizer tok = tokenizer();
        String prompt = "a red apple, ".repeat(30);
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager()) {
            ClipTextModel model = model(weights);
            WeightedPromptEncoder encoder = WeightedPromptEncoder.of(tok, model, ClipLayer.clipSkip(1));
            List<PromptChunk> chunks = encoder.chunks(prompt);
            assertTrue(chunks.size() >= 2, "more than 75 tokens: " + tok.encode(prompt).length);
            WeightedEncoding enc = encoder.encode(step, prompt, 2);
            int d = model.config().hiddenSize();
            assertArrayEquals(new long[] {2, 77L * chunks.size(), d}, enc.context().getShape().getShape());
            for (int c = 0; c < chunks.size(); c++) {
                NDArray part = enc.context().get(new NDIndex(":, {}:{}", 77 * c, 77 * (c + 1)));
                ClipTextOutput alone = model.encode(step, rows(chunks.get(c).tokens(), 2));
                assertArrayEquals(alone.lastHiddenState().toFloatArray(), part.toFloatArray(), 0f, "chunk " + c);
                if (c == 0) {
                    assertArrayEquals(alone.pooled().toFloatArray(), enc.pooled().toFloatArray(), 0f, "pooled");
                }
            }
            NDArray empty = encoder.encode(step, "", 2).context();
            NDArray padded = WeightedPromptEncoder.padWithEmpty(empty, empty, chunks.size());
            assertArrayEquals(enc.context().getShape().getShape(), padded.getShape().getShape());
        }
    }

    @Test
    void dualEncoderConcatenatesFeaturesAndPoolsTheSecondEncodersFirstChunk() {
        ClipTokenizer tok = tokenizer();
        String prompt = "a (red:1.2) apple, ".repeat(30);
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager()) {
            ClipTextModel l = model(weights);
            ClipTextModel g = ClipTextModel.load(Fixtures.require("clip_text/gelu_proj"), weights, DataType.FLOAT32);
            WeightedPromptEncoder a = WeightedPromptEncoder.of(tok, l, ClipLayer.penultimateRaw());
            WeightedPromptEncoder b = WeightedPromptEncoder.of(tok, g, ClipLayer.penultimateRaw());
            WeightedEncoding both = new DualClipPromptEncoder(a, b).encode(step, prompt, 1);
            WeightedEncoding ea = a.encode(step, prompt, 1);
            WeightedEncoding eb = b.encode(step, prompt, 1);
            assertTrue(both.chunks() >= 2);
            assertArrayEquals(ea.context().concat(eb.context(), -1).toFloatArray(), both.context().toFloatArray(), 0f);
            ClipTextOutput first = g.encode(step, rows(b.chunks(prompt).get(0).tokens(), 1));
            assertArrayEquals(first.textEmbeds().toFloatArray(), both.textEmbeds().toFloatArray(), 0f);
        }
    }

    @Test
    void commaIdIsTheVocabularysCommaWord() throws Exception {
        Path vocab = Fixtures.require(TOKENIZER).resolve("vocab.json");
        int comma = Fixtures.json(vocab).get(",</w>").asInt();
        int[] ids = tokenizer().encode(",");
        assertArrayEquals(new int[] {comma}, ids);
    }

    /** Padding and EOS positions after the last prompt token, so the last prompt token is at 76 - this. */
    private static int countAfter(ClipTokenizer tok, int[] tokens) {
        int last = 0;
        for (int i = 1; i < tokens.length; i++) {
            if (tokens[i] == tok.ids().eos()) {
                break;
            }
            last = i;
        }
        return tokens.length - 1 - last;
    }

    private static double mean(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return s / x.length;
    }
}
