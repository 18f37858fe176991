package dev.jdiffuse.models.t5;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece's Unigram language-model segmentation (Kudo 2018), as tokenizers' {@code Unigram} model encodes:
 * the segmentation of a pre-token into vocabulary pieces with the largest total log-probability (Viterbi over the
 * lattice of every piece that matches at every position). A position where no single-character piece matches gets an
 * unknown node of one character scored {@code min_score - 10}; consecutive unknowns fuse into one {@code unk_id}.
 * Ties keep the first candidate met, which is the one starting earliest (tokenizers' order).
 */
final class UnigramModel {

    /** tokenizers' {@code K_UNK_PENALTY}. */
    private static final double UNK_PENALTY = 10.0;

    private final List<String> pieces;
    private final Map<String, Integer> ids;
    private final double[] scores;
    private final int unkId;
    private final double unkScore;
    private final int maxPieceCodePoints;

    /**
     * @param pieces the vocabulary in id order
     * @param scores log-probabilities, one per piece
     */
    UnigramModel(List<String> pieces, double[] scores, int unkId) {
        if (pieces.size() != scores.length || pieces.isEmpty()) {
            throw new IllegalArgumentException("vocab of " + pieces.size() + " pieces with " + scores.length
                    + " scores");
        }
        if (unkId < 0 || unkId >= pieces.size()) {
            throw new IllegalArgumentException("unk_id " + unkId + " outside the vocab of " + pieces.size());
        }
        Map<String, Integer> m = new HashMap<>(pieces.size() * 2);
        double min = Double.POSITIVE_INFINITY;
        int maxLen = 0;
        for (int i = 0; i < pieces.size(); i++) {
            String p = pieces.get(i);
            m.putIfAbsent(p, i);
            min = Math.min(min, scores[i]);
            maxLen = Math.max(maxLen, p.codePointCount(0, p.length()));
        }
        this.pieces = List.copyOf(pieces);
        this.ids = m;
        this.scores = scores.clone();
        this.unkId = unkId;
        this.unkScore = min - UNK_PENALTY;
        this.maxPieceCodePoints = maxLen;
    }

    Integer id(String piece) {
        return ids.get(piece);
    }

    String piece(int id) {
        return pieces.get(id);
    }

    int size() {
        return pieces.size();
    }

    int unkId() {
        return unkId;
    }

    /** Appends the best segmentation of {@code text} to {@code out} as ids. */
    void encode(String text, List<Integer> out) {
        int[] cps = text.codePoints().toArray();
        int n = cps.length;
        if (n == 0) {
            return;
        }
        double[] best = new double[n + 1];
        int[] from = new int[n + 1];
        int[] via = new int[n + 1];
        boolean[] reached = new boolean[n + 1];
        reached[0] = true;
        for (int begin = 0; begin < n; begin++) {
            if (!reached[begin]) {
                continue;
            }
            boolean single = false;
            StringBuilder piece = new StringBuilder();
            for (int end = begin + 1; end <= Math.min(n, begin + maxPieceCodePoints); end++) {
                piece.appendCodePoint(cps[end - 1]);
                Integer id = ids.get(piece.toString());
                if (id == null) {
                    continue;
                }
                single |= end == begin + 1;
                relax(best, from, via, reached, begin, end, best[begin] + scores[id], id);
            }
            if (!single) {
                relax(best, from, via, reached, begin, begin + 1, best[begin] + unkScore, unkId);
            }
        }
        List<Integer> reversed = new ArrayList<>();
        for (int end = n; end > 0; end = from[end]) {
            reversed.add(via[end]);
        }
        boolean lastUnk = false;
        for (int i = reversed.size() - 1; i >= 0; i--) {
            int id = reversed.get(i);
            if (id == unkId && lastUnk) {
                continue;
            }
            lastUnk = id == unkId;
            out.add(id);
        }
    }

    private static void relax(double[] best, int[] from, int[] via, boolean[] reached, int begin, int end,
            double score, int id) {
        if (!reached[end] || score > best[end]) {
            reached[end] = true;
            best[end] = score;
            from[end] = begin;
            via[end] = id;
        }
    }
}
