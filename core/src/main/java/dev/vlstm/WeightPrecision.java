package dev.vlstm;

import dev.vlstm.kernel.WeightFormat;

/**
 * How an LSTM {@link Model} stores the weight matrices W and U once packed ({@link Options#precision()}). Compressed
 * weights serve forward inference ({@link Runner}: sequences and steps, any batch); they are widened to float in
 * registers and every sum is accumulated in float. At batch 1 a step reads every weight once, so its time is
 * about the bytes of its weights ÷ the memory bandwidth: half or a quarter of the bytes is up to 2× or 4×
 * faster. The biases stay float. {@link Model#trainer} refuses compressed weights (training updates float master
 * weights).
 *
 * <p>Error against the float weights, per weight w of a gate row r (bounds are exact, tested):
 * <ul>
 *   <li>{@link #BFLOAT16}: {@code |w - bf16(w)| <= 2^-8 |w|} (8 significant bits; normal floats; {@code <= 2^-134} for subnormal
 *       ones);</li>
 *   <li>{@link #INT8}: {@code |w - q * s_r| <= s_r / 2}, with {@code s_r = max_k |w_rk| / 127}.</li>
 * </ul>
 * A gate pre-activation {@code z = Σ_k w_k v_k} (v: the input x, or h, |h| &lt; 1) then moves by at most
 * {@code Δz <= 2^-8 Σ_k |w_k v_k|} (bf16) or {@code (s_r / 2) Σ_k |v_k|} (int8), and one step's output by at most
 * {@code |Δh| <= Δz_i / 4 + |c_prev| Δz_f / 4 + Δz_g + Δz_o / 4} (σ' &le; 1/4, tanh' &le; 1, |σ|, |tanh| &le; 1),
 * to float rounding. Over a sequence the differences are carried through h and c; docs/service-guide.md
 * ("Numerics") gives measured values.
 */
public enum WeightPrecision {
    /** 4 bytes a weight: the weights as given. The default. */
    FLOAT32(WeightFormat.FLOAT32, Float.BYTES),
    /**
     * 2 bytes a weight: each weight rounded to the nearest bfloat16 (ties to even), the upper half of a float, and
     * widened back exactly. Results equal, bit for bit, those of {@link #FLOAT32} weights that were rounded the same
     * way. Weights beyond bfloat16's largest finite value (about 3.39e38) are refused when packing.
     */
    BFLOAT16(WeightFormat.BFLOAT16, 2),
    /**
     * 1 byte a weight plus a float per gate row: symmetric int8 with one scale per gate row of W and of U (per
     * gate and hidden unit), {@code s = max|w| / 127}, {@code q = round(w / s)} in [-127, 127]. A kernel sums
     * {@code x_k * q_k} in float and multiplies the sum by s once; an all-zero row has s = 0 and gives 0.
     */
    INT8(WeightFormat.INT8, 1);

    private final WeightFormat format;
    private final int bytesPerWeight;

    WeightPrecision(WeightFormat format, int bytesPerWeight) {
        this.format = format;
        this.bytesPerWeight = bytesPerWeight;
    }

    /** {@return the bytes one packed weight takes (scales and padding aside): 4, 2 or 1} */
    public int bytesPerWeight() {
        return bytesPerWeight;
    }

    WeightFormat format() {
        return format;
    }
}
