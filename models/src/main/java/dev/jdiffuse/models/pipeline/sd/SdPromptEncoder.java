package dev.jdiffuse.models.pipeline.sd;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.pipeline.PromptEmbeddingCache;
import dev.jdiffuse.models.prompt.ClipLayer;
import dev.jdiffuse.models.prompt.DualClipPromptEncoder;
import dev.jdiffuse.models.prompt.PromptChunker;
import dev.jdiffuse.models.prompt.PromptSyntax;
import dev.jdiffuse.models.prompt.WeightedEncoding;
import dev.jdiffuse.models.prompt.PromptChunk;
import dev.jdiffuse.models.prompt.WeightedPromptEncoder;
import dev.jdiffuse.models.textinv.EmbeddingSet;

import java.util.List;
import java.util.Map;

/**
 * Prompt to UNet conditioning as AUTOMATIC1111 reads prompts ({@link WeightedPromptEncoder}: emphasis weights, BREAK,
 * 75-token chunks concatenated along the sequence): SD1/SD2 take one CLIP encoder's layer {@code clip_skip} from the
 * end ({@link ClipLayer#clipSkip}; 1 is the last hidden state); SDXL concatenates both encoders' raw penultimate hidden
 * states along the features ({@link DualClipPromptEncoder}; clip skip n moves back n - 1 layers) and takes the
 * second encoder's projected pooled output of the first chunk; the SDXL refiner has only the second encoder
 * (OpenCLIP bigG): its context is that encoder's penultimate hidden states alone, its pooled output the same as
 * SDXL's (diffusers' {@code encode_prompt} with {@code text_encoder=None}). A prompt of at most 75 tokens without
 * emphasis is one chunk of weight 1 and so exactly diffusers' {@code encode_prompt}. Shapes: context [B, 77k, D],
 * pooled [B, P]. Textual-inversion embeddings ({@link EmbeddingSet}) named in a prompt replace their names' token
 * embeddings, each encoder taking the vectors of its width.
 */
final class SdPromptEncoder {

    /** The text context, for SDXL the pooled embedding (null otherwise), and how many 77-token chunks it has. */
    record Encoded(NDArray context, NDArray pooled, int chunks) {
    }

    /**
     * What an encoding depends on besides the weights; {@code embeddings} is the set's fingerprint (names and content
     * hashes), so a replaced embedding file is encoded again.
     */
    private record Key(String prompt, int batch, int clipSkip, PromptSyntax syntax, String embeddings) {
    }

    private static final PromptEmbeddingCache.Arrays<Encoded> ARRAYS = new PromptEmbeddingCache.Arrays<>() {
        @Override
        public Encoded copy(Encoded e, NDManager manager) {
            return new Encoded(PromptEmbeddingCache.copy(e.context(), manager),
                    PromptEmbeddingCache.copy(e.pooled(), manager), e.chunks());
        }

        @Override
        public Device device(Encoded e) {
            return e.context().getDevice();
        }
    };

    private final ClipTextModel encoder;
    private final ClipTextModel encoder2;
    private final PromptChunker chunker;
    private final PromptChunker chunker2;
    private final PromptEmbeddingCache<Encoded> cache;

    /**
     * @param tokenizer the first tokenizer, null (with {@code encoder}) for the SDXL refiner
     * @param tokenizer2 SDXL's second tokenizer, null (with {@code encoder2}) for SD 1.x / 2.x
     */
    SdPromptEncoder(ClipTokenizer tokenizer, ClipTextModel encoder, ClipTokenizer tokenizer2,
            ClipTextModel encoder2) {
        if (encoder == null && encoder2 == null) {
            throw new IllegalArgumentException("no text encoder");
        }
        this.encoder = encoder;
        this.encoder2 = encoder2;
        this.chunker = encoder == null ? null : PromptChunker.of(tokenizer);
        this.chunker2 = encoder2 == null ? null : PromptChunker.of(tokenizer2);
        // CLIP gathers the encodings of jobs starting together (ClipTextModel.encode); the rest of an encoding
        // (layer choice, emphasis, chunks) is a few launches on the job's thread
        this.cache = new PromptEmbeddingCache<>(java.util.Arrays.asList(encoder, encoder2), ARRAYS)
                .encodersGatherTheirCalls();
    }

    /** The recent prompts' encodings (a repeated prompt costs a copy instead of the CLIP passes). */
    PromptEmbeddingCache<Encoded> cache() {
        return cache;
    }

    /** The text encoders under diffusers' component names ({@code text_encoder}, SDXL's {@code text_encoder_2}). */
    Map<String, Module> encoders() {
        if (isRefiner()) {
            return Map.of("text_encoder_2", encoder2);
        }
        return isSdxl() ? Map.of("text_encoder", encoder, "text_encoder_2", encoder2) : Map.of("text_encoder", encoder);
    }

    /** SDXL base or refiner: conditioned on a pooled embedding and time ids too. */
    boolean isSdxl() {
        return encoder2 != null;
    }

    /** The SDXL refiner: the second (OpenCLIP bigG) encoder alone. */
    boolean isRefiner() {
        return encoder == null;
    }

    /** Width of the pooled, projected text embedding ({@code text_embeds}) for SDXL, 0 otherwise. */
    int pooledWidth() {
        return isSdxl() ? encoder2.config().projectionDim() : 0;
    }

    /** The largest clip skip the text encoder(s) allow: their layer count (the smaller of SDXL's two). */
    int maxClipSkip() {
        if (isRefiner()) {
            return encoder2.config().numHiddenLayers();
        }
        int layers = encoder.config().numHiddenLayers();
        return isSdxl() ? Math.min(layers, encoder2.config().numHiddenLayers()) : layers;
    }

    Encoded encode(NDManager manager, String prompt, int batch, int clipSkip, PromptSyntax syntax) {
        return encode(manager, prompt, batch, clipSkip, syntax, EmbeddingSet.EMPTY);
    }

    /**
     * @throws dev.jdiffuse.models.textinv.TextualInversionException when the prompt uses an embedding without
     *     vectors of an encoder's width ({@link #checkEmbeddings} finds it first)
     */
    Encoded encode(NDManager manager, String prompt, int batch, int clipSkip, PromptSyntax syntax,
            EmbeddingSet embeddings) {
        return cache.get(manager, new Key(prompt, batch, clipSkip, syntax, embeddings.fingerprint()),
                () -> encodeUncached(manager, prompt, batch, clipSkip, syntax, embeddings));
    }

    /**
     * Throws what {@link #encode} would for the embeddings {@code prompt} uses, without encoding.
     *
     * @throws dev.jdiffuse.models.textinv.TextualInversionException naming an embedding that does not fit
     */
    void checkEmbeddings(String prompt, PromptSyntax syntax, EmbeddingSet embeddings) {
        if (embeddings.isEmpty()) {
            return;
        }
        for (ClipTextModel m : java.util.Arrays.asList(encoder, encoder2)) {
            if (m != null) {
                PromptChunker c = m == encoder ? chunker : chunker2;
                for (PromptChunk chunk : c.chunk(prompt, syntax.emphasis(), embeddings)) {
                    chunk.fixes().forEach(f -> f.embedding().forWidth(m.config().hiddenSize()));
                }
            }
        }
    }

    /** The embeddings {@code prompt} uses, in order (the first encoder's chunking; both chunk alike). */
    List<dev.jdiffuse.models.textinv.TextualInversion> embeddingsUsed(String prompt, PromptSyntax syntax,
            EmbeddingSet embeddings) {
        if (embeddings.isEmpty()) {
            return List.of();
        }
        PromptChunker c = encoder != null ? chunker : chunker2;
        List<dev.jdiffuse.models.textinv.TextualInversion> used = new java.util.ArrayList<>();
        for (PromptChunk chunk : c.chunk(prompt, syntax.emphasis(), embeddings)) {
            chunk.fixes().forEach(f -> used.add(f.embedding()));
        }
        return used;
    }

    private Encoded encodeUncached(NDManager manager, String prompt, int batch, int clipSkip, PromptSyntax syntax,
            EmbeddingSet embeddings) {
        if (!isSdxl()) {
            WeightedEncoding e = new WeightedPromptEncoder(encoder, chunker, ClipLayer.clipSkip(clipSkip),
                    syntax.emphasis()).encode(manager, prompt, batch, embeddings);
            return new Encoded(e.context(), null, e.chunks());
        }
        ClipLayer layer = new ClipLayer(ClipLayer.penultimateRaw().fromEnd() + clipSkip - 1, false);
        if (isRefiner()) {
            WeightedEncoding e = new WeightedPromptEncoder(encoder2, chunker2, layer, syntax.emphasis())
                    .encode(manager, prompt, batch, embeddings);
            return new Encoded(e.context(), e.textEmbeds(), e.chunks());
        }
        WeightedEncoding e = new DualClipPromptEncoder(
                new WeightedPromptEncoder(encoder, chunker, layer, syntax.emphasis()),
                new WeightedPromptEncoder(encoder2, chunker2, layer, syntax.emphasis()))
                .encode(manager, prompt, batch, embeddings);
        return new Encoded(e.context(), e.textEmbeds(), e.chunks());
    }

    /**
     * {@code a} with copies of the empty prompt's chunk appended until it has {@code chunks} chunks (A1111 pads every
     * prompt of a batch to the longest with empty chunks), so a prompt and a negative prompt of different lengths
     * batch together for guidance. The pooled embedding stays the first chunk's.
     */
    Encoded padTo(NDManager manager, Encoded a, int chunks, int batch, int clipSkip, PromptSyntax syntax) {
        if (a.chunks() >= chunks) {
            return a;
        }
        NDArray empty = encode(manager, "", batch, clipSkip, syntax).context();
        return new Encoded(WeightedPromptEncoder.padWithEmpty(a.context(), empty, chunks), a.pooled(), chunks);
    }
}
