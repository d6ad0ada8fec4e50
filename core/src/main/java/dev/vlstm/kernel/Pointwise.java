package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The cells' pointwise backward of one step, over every block of {@code batch} rows, on the calling thread: cheap
 * next to the step's GEMMs, which a {@link Team} splits. Implementations work on the packed gate rows of a
 * {@link GateLayout} and on native scratch the caller owns; they never allocate and keep no state.
 */
public interface Pointwise {

    /**
     * The pointwise backward of the LSTM ({@code layout} of 4 gates, i, f, g, o) and of the CIFG (3 gates, i, g, o,
     * with f = 1 - i): from the saved gate activations, the cell states before and after the step and the incoming
     * gradients, makes the gate pre-activation gradients {@code dz} (written over the activations) and carries the
     * cell gradient back. With {@code tc = tanh(clip(c))}: {@code dz_o = dh*tc*o(1-o)};
     * {@code dc += dh*o*(1 - tc²)} where {@code |c| <= clip} (nothing where the clip held c), plus {@code dz_o*p_o}
     * with peepholes; {@code dz_i = dc*g*i(1-i)} (the CIFG's {@code dc*(g - cPrev)*i(1-i)}),
     * {@code dz_f = dc*cPrev*f(1-f)}, {@code dz_g = dc*i*(1-g²)}; the cell gradient carried back is {@code dc*f},
     * plus {@code dz_i*p_i + dz_f*p_f} with peepholes; and {@code dp_i += dz_i*cPrev}, {@code dp_f += dz_f*cPrev},
     * {@code dp_o += dz_o*c} are added into {@code peepholeGradients}. Where a dz feeds the cell gradient (dz_o, dz_i
     * and dz_f with peepholes, dz_i of the CIFG), it is zero where the forward's clip held its pre-activation; the
     * others' clip is undone by the caller afterwards ({@link TensorKernel#zeroWhereAbove}), which changes nothing
     * already masked.
     *
     * @param layout            the four-gate (LSTM) or three-gate (CIFG) packing
     * @param gates             activations, {@code [batch][gateRowFloats]} from {@code gatesOffset} bytes; replaced
     *                          by dz
     * @param preActivations    the forward's pre-activations z (peephole terms included), same layout as
     *                          {@code gates}, from {@code preActivationsOffset} bytes; read only, and only with a
     *                          finite clip
     * @param cell              c after the step, {@code [batch][paddedHidden]} from {@code cellOffset} bytes
     * @param cellPrev          c before the step, same layout, from {@code cellPrevOffset} bytes
     * @param dh                dL/dh of this step's output, {@code [batch][dhRowFloats]} floats (read only)
     * @param dc                dL/dc after the step, {@code [batch][paddedHidden]}; replaced by dL/dc before the step
     * @param scratch           one vector of the family's lanes, 64-byte aligned, for intermediate values
     * @param clip              the forward's cell clip, {@code Float.POSITIVE_INFINITY} for none
     * @param peepholes         the peepholes packed as a gate row ({@link Packing#peepholes}), or null for none
     * @param peepholeGradients a gate row in the same packing, to which dp is added (g's slots untouched); unused
     *                          without peepholes
     */
    void lstmBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                      long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                      long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc, MemorySegment scratch,
                      int batch, float clip, MemorySegment peepholes, MemorySegment peepholeGradients);

    /**
     * The GRU's pointwise backward, from the saved activations r, z, n, the saved m = U_n h + b_hn, h before the step
     * and dh = dL/dh after it: {@code da_n = dh(1-z)(1-n²)}, {@code da_r = da_n m r(1-r)},
     * {@code da_z = dh(hPrev-n) z(1-z)}, {@code dm = da_n r}, and the part of dL/dhPrev that bypasses the GEMMs,
     * {@code dh z}. With a finite clip, each of da_r, da_z and da_n is zero where the forward's clip held its
     * pre-activation ({@code |pre-activation| > clip}), da_n before it reaches da_r and dm.
     *
     * @param layout           the three-gate packing
     * @param gates            r, z, n, {@code [batch][gateRowFloats]} from {@code gatesOffset} bytes; replaced by
     *                         the input-side gradients {@code (da_r, da_z, da_n)}
     * @param inputGates       rows whose n slot holds m, same layout, from {@code inputGatesOffset} bytes, and with a
     *                         finite clip the pre-activations of r and z in their slots; replaced by the
     *                         recurrent-side gradients {@code (da_r, da_z, dm)}
     * @param hPrev            h before the step, {@code [batch][paddedHidden]} from byte 0
     * @param candidatePreActivations n's pre-activations {@code a_n + r m}, {@code [batch][paddedHidden]} from byte
     *                         0; read only, and only with a finite clip (null without)
     * @param dh               dL/dh after the step, {@code [batch][dhRowFloats]} floats (read only)
     * @param dhRowFloats      floats between rows of dh, &ge; paddedHidden
     * @param direct           receives {@code dh z}, {@code [batch][paddedHidden]}
     * @param batch            rows, &ge; 1
     * @param clip             the forward's clip, {@code Float.POSITIVE_INFINITY} for none
     */
    void gruBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                     long inputGatesOffset, MemorySegment hPrev, MemorySegment candidatePreActivations,
                     MemorySegment dh, int dhRowFloats, MemorySegment direct, int batch, float clip);
}
