package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The two pieces of a forward LSTM step, split as in oneDNN: a GEMM that makes gate pre-activations from the
 * inputGates, and a recurrent GEMM fused with the pointwise cell update ("postgemm"). Implementations work on the
 * four-gate {@link GateLayout} ({@link GateLayout#lstm}) of packed weights and on native, 64-byte aligned scratch
 * that the caller owns; they never allocate and keep no state, so one instance serves every thread.
 */
public interface LstmKernel {

    /** Short name for logs and benchmark tables, e.g. {@code "vector-512"} or {@code "scalar"}. */
    String name();

    /** Hidden units per packed block; weights must have been packed with this many lanes. */
    int lanes();

    /** How this kernel expects packed weight matrices to store their values. */
    WeightFormat weightFormat();

    /**
     * The kernel of the same family (and lanes) for weights packed in {@code format}: this one for its own format.
     * Only {@link WeightFormat#FLOAT32} kernels run the backward pass.
     */
    LstmKernel withWeightFormat(WeightFormat format);

    /** The elementwise tensor operations of the same family (vector or scalar). */
    TensorKernel tensors();

    /**
     * The GEMM of the same family (vector or scalar), which {@link #projectInput} runs for every weight format; it
     * runs on the calling thread.
     */
    PackedGemm packedGemm();

    /**
     * Input projection for {@code rows} rows: {@code gates[r] = bias + x[r] · Wᵀ}, with x read as dense
     * {@code [rows][I]} floats from {@code xOffset} bytes. The strided form below says what is computed.
     */
    default void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment packedBias,
                              MemorySegment x, long xOffset, int rows, MemorySegment gates, long gatesOffset) {
        projectInput(layout, packedInput, packedBias, x, xOffset, (long) layout.inputSize() * Float.BYTES,
                Float.BYTES, rows, gates, gatesOffset);
    }

    /**
     * The GEMM behind the input projection, with x read through strides. The same GEMM serves the backward pass
     * through other layouts (transposed packings) and other strides, which is why it is
     * described generally: for each row r and each block of the layout, four vectors of {@code lanes()} outputs are
     * {@code bias} plus the sum over {@code k < layout.inputSize()} of {@code x(r, k)} times the block's panel row
     * k, where {@code x(r, k)} is the float at byte {@code xOffset + r * xRowBytes + k * xColumnBytes}.
     *
     * @param packedInput W packed as {@code [block][k < I][gate][lane]} in {@link #weightFormat()}
     * @param packedBias  one gate row added to every output row (zeros for a plain GEMM)
     * @param gates       output, {@code [rows][gateRowFloats]} floats from {@code gatesOffset} bytes
     */
    default void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment packedBias,
                              MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                              MemorySegment gates, long gatesOffset) {
        projectInput(layout, layout.inputSize(), packedInput, packedBias, x, xOffset, xRowBytes, xColumnBytes, rows,
                gates, gatesOffset, 0, layout.blocks());
    }

    /**
     * The same GEMM over a depth given per call instead of the layout's input size: the weight-gradient GEMMs,
     * whose depth is the forward's row count (T·B, or Σ lengths), which changes from call to call, while their
     * layout (outputs, lanes) stays; a layout made per call would allocate.
     *
     * @param depth       terms per output, &ge; 1: the panels are {@code [block][k < depth][gate][lane]}
     * @param packedInput the panels, in {@link #weightFormat()}
     * @param packedBias  one gate row added to every output row (zeros for a plain GEMM)
     * @param gates       output, {@code [rows][gateRowFloats]} floats from {@code gatesOffset} bytes
     */
    default void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                              MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                              MemorySegment gates, long gatesOffset) {
        projectInput(layout, depth, packedInput, packedBias, x, xOffset, xRowBytes, xColumnBytes, rows, gates,
                gatesOffset, 0, layout.blocks());
    }

    /**
     * {@link #projectInput(GateLayout, MemorySegment, MemorySegment, MemorySegment, long, long, long, int,
     * MemorySegment, long)} for the blocks {@code blockFrom..blockTo-1} of the layout only: every row's outputs of
     * those blocks, reading only those blocks' panels; nothing else of {@code gates} is written. Threads that own
     * disjoint block ranges may run it at once on the same arguments, and each output gets the same bits as in the
     * whole call (docs/architecture.md, "Threads", says how threads split a call by blocks).
     *
     * @param depth     terms per output ({@code layout.inputSize()} for W; see {@link #projectInput(GateLayout, int,
     *                  MemorySegment, MemorySegment, MemorySegment, long, long, long, int, MemorySegment, long)})
     * @param blockFrom first block, {@code 0 <= blockFrom <= blockTo}
     * @param blockTo   one past the last block, {@code <= layout.blocks()}
     */
    void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                      MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows, MemorySegment gates,
                      long gatesOffset, int blockFrom, int blockTo);

    /**
     * One recurrent step for {@code batch} rows: pre-activations {@code z = inputGates[r] + hPrev[r] · Uᵀ}, clipped
     * to {@code [-clip, clip]} before the activations, then {@code c[r] = f*c[r] + i*g} in place and
     * {@code hNext[r] = o*tanh(clip(c[r]))} (ONNX's cell clip: the stored c is not clipped). With
     * {@code clip = +∞} the clipping changes no bit.
     *
     * @param packedRecurrent U packed as {@code [block][k < H][gate][lane]} in {@link #weightFormat()}
     * @param inputGates      input pre-activations, {@code [batch][gateRowFloats]} floats from
     *                        {@code inputGatesOffset} bytes; replaced by the whole unclipped pre-activations z
     * @param gates           {@code [batch][gateRowFloats]} floats from {@code gatesOffset} bytes; receives the
     *                        gate activations σ(i), σ(f), tanh(g), σ(o) of this step
     * @param hPrev           {@code [batch][paddedHidden]} floats, read only
     * @param c               {@code [batch][paddedHidden]} floats, updated in place
     * @param hNext           {@code [batch][paddedHidden]} floats, written; must not overlap {@code hPrev}
     * @param clip            the cell clip, &gt; 0; {@code Float.POSITIVE_INFINITY} for none
     */
    default void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment inputGates,
                               long inputGatesOffset, MemorySegment gates, long gatesOffset, MemorySegment hPrev,
                               MemorySegment c, MemorySegment hNext, int batch, float clip) {
        recurrentStep(layout, packedRecurrent, layout.hiddenSize(), inputGates, inputGatesOffset, gates, gatesOffset,
                hPrev, (long) layout.paddedHidden() * Float.BYTES, c, hNext, batch, clip);
    }

    /**
     * The recurrent step above with a recurrent input of another width than H, as with PyTorch's projection
     * ({@code proj_size} = P): {@code hPrev} holds {@code recurrentDepth} floats per row at a stride of
     * {@code hPrevRowBytes}, U was packed with that depth, and {@code cellOutput} receives
     * {@code m = o*tanh(clip(c))} (H units, {@code [batch][paddedHidden]}) for the caller to project. With
     * {@code recurrentDepth = H} and a stride of {@code paddedHidden} floats it is the step above, bit for bit.
     *
     * @param recurrentDepth columns of U and values per row of {@code hPrev}, &ge; 1
     * @param hPrevRowBytes  bytes between rows of {@code hPrev}
     * @param cellOutput     {@code [batch][paddedHidden]} floats, written; must not overlap {@code hPrev}
     */
    default void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                               MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                               MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment cellOutput,
                               int batch, float clip) {
        recurrentStep(layout, packedRecurrent, recurrentDepth, inputGates, inputGatesOffset, gates, gatesOffset, hPrev,
                hPrevRowBytes, c, cellOutput, batch, clip, null);
    }

    /**
     * The recurrent step above, with peephole connections if {@code peepholes} is not null (Graves 2012; ONNX's P):
     * {@code z_i += p_i*c} and {@code z_f += p_f*c} with the cell c before the step, {@code z_o += p_o*c'} with the
     * cell c' after it, each added to the summed pre-activation by one FMA before the clip and the activation; the
     * z written back over {@code inputGates} include these terms. With {@code peepholes} null, or all zero, it is the
     * step without them, bit for bit.
     *
     * @param peepholes p_i, p_f, p_o packed as a gate row by {@link Packing#peepholes} (float32 whatever the
     *                  weight format), or null for none
     */
    default void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                               MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                               MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment cellOutput,
                               int batch, float clip, MemorySegment peepholes) {
        recurrentStep(layout, packedRecurrent, recurrentDepth, inputGates, inputGatesOffset, gates, gatesOffset, hPrev,
                hPrevRowBytes, c, cellOutput, batch, clip, peepholes, 0, layout.blocks());
    }

    /**
     * {@link #recurrentStep(GateLayout, MemorySegment, int, MemorySegment, long, MemorySegment, long, MemorySegment,
     * long, MemorySegment, MemorySegment, int, float, MemorySegment)} for the hidden units of blocks
     * {@code blockFrom..blockTo-1} only: every row's gates, c and output of those units, reading all of {@code hPrev}
     * but only those blocks' panels of U. Threads that own disjoint block ranges may run it at once on the same arguments (each writes only
     * its own units), and each unit gets the same bits as in the whole call.
     *
     * @param blockFrom first block, {@code 0 <= blockFrom <= blockTo}
     * @param blockTo   one past the last block, {@code <= layout.blocks()}
     */
    void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth, MemorySegment inputGates,
                       long inputGatesOffset, MemorySegment gates, long gatesOffset, MemorySegment hPrev,
                       long hPrevRowBytes, MemorySegment c, MemorySegment cellOutput, int batch, float clip,
                       MemorySegment peepholes, int blockFrom, int blockTo);

    /**
     * The pointwise part of one backward step for {@code batch} rows: from the saved gate activations, the cell
     * states before and after the step and the incoming gradients, makes the gate pre-activation gradients
     * {@code dz} (written over the activations) and carries the cell gradient back through the forget gate.
     * With {@code tc = tanh(clip(c))}: {@code dc += dh*o*(1 - tc²)} where {@code |c| <= clip} (nothing where the
     * clip held c); {@code dz_i = dc*g*i(1-i)},
     * {@code dz_f = dc*cPrev*f(1-f)}, {@code dz_g = dc*i*(1-g²)}, {@code dz_o = dh*tc*o(1-o)}; then
     * {@code dc = dc*f}.
     *
     * @param gates   activations i, f, g, o, {@code [batch][gateRowFloats]} from {@code gatesOffset} bytes;
     *                replaced by dz
     * @param cell    c after the step, {@code [batch][paddedHidden]} from {@code cellOffset} bytes
     * @param cellPrev c before the step, same layout, from {@code cellPrevOffset} bytes
     * @param dh      dL/dh of this step's output, {@code [batch][dhRowFloats]} floats (read only)
     * @param dc      dL/dc after the step, {@code [batch][paddedHidden]}; replaced by dL/dc before the step
     * @param scratch one vector of {@code lanes()} floats, 64-byte aligned, for intermediate values
     * @param clip    the forward's cell clip, {@code Float.POSITIVE_INFINITY} for none; the gate pre-activations'
     *                clip is undone separately ({@link TensorKernel#zeroWhereAbove})
     */
    void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell, long cellOffset,
                      MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh, int dhRowFloats,
                      MemorySegment dc, MemorySegment scratch, int batch, float clip);

    /**
     * The pointwise backward step above for a step with peephole connections ({@link #recurrentStep(GateLayout,
     * MemorySegment, int, MemorySegment, long, MemorySegment, long, MemorySegment, long, MemorySegment,
     * MemorySegment, int, float, MemorySegment)}): {@code dz_o} is made first and reaches the cell,
     * {@code dc += dz_o*p_o}; then dz_i, dz_f, dz_g as above; the cell gradient carried back is
     * {@code dc*f + dz_i*p_i + dz_f*p_f}; and {@code dp_i += dz_i*cPrev}, {@code dp_f += dz_f*cPrev},
     * {@code dp_o += dz_o*c} are added into {@code peepholeGradients}, rows in order. Since dz_i, dz_f and dz_o feed
     * the cell gradient, their clip masks are applied here (from {@code preActivations}); dz_g's is still the
     * caller's.
     *
     * @param preActivations    the forward's pre-activations z (peephole terms included), same layout as
     *                          {@code gates}, from {@code preActivationsOffset} bytes; read only
     * @param peepholes         p_i, p_f, p_o packed as a gate row ({@link Packing#peepholes})
     * @param peepholeGradients a gate row in the same packing, to which dp is added (g's slots untouched)
     */
    void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                      long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                      long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                      MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                      MemorySegment peepholeGradients);
}
