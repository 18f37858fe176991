package dev.jdiffuse.models.t5;

/**
 * T5's relative position buckets (Raffel et al. 2020, sec. 2.1; transformers' {@code T5Attention._relative_position_bucket}
 * with {@code bidirectional=True}). Half of the buckets are for keys after the query, half for keys at or before it;
 * within each half, distances below {@code max_exact = buckets / 4} get a bucket each, larger ones share
 * logarithmically sized buckets up to {@code max_distance}, beyond which everything falls in the last one:
 * <pre>
 *   n = num_buckets / 2;  bucket = (rel > 0 ? n : 0)
 *   r = |rel|;  max_exact = n / 2
 *   bucket += r &lt; max_exact ? r : min(n - 1, max_exact + (int)(log(r / max_exact) / log(max_distance / max_exact) * (n - max_exact)))
 * </pre>
 * with {@code rel = key_position - query_position}. The logarithm is taken in float32, as PyTorch does on a float
 * tensor, so the truncation lands on the same integer.
 */
public final class T5RelativePosition {

    private T5RelativePosition() {
    }

    public static int bucket(int relativePosition, int numBuckets, int maxDistance) {
        int n = numBuckets / 2;
        int bucket = relativePosition > 0 ? n : 0;
        int r = Math.abs(relativePosition);
        int maxExact = n / 2;
        if (r < maxExact) {
            return bucket + r;
        }
        float logRatio = (float) Math.log((float) r / (float) maxExact);
        float scaled = logRatio / (float) Math.log((double) maxDistance / maxExact) * (float) (n - maxExact);
        int large = maxExact + (int) scaled;
        return bucket + Math.min(large, n - 1);
    }

    /** Buckets for a query/key grid of {@code length}, row-major [query i][key j] with {@code rel = j - i}. */
    public static long[] buckets(int length, int numBuckets, int maxDistance) {
        long[] out = new long[length * length];
        for (int i = 0; i < length; i++) {
            for (int j = 0; j < length; j++) {
                out[i * length + j] = bucket(j - i, numBuckets, maxDistance);
            }
        }
        return out;
    }
}
