package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The cells' pointwise forward of the scalar family, one hidden unit at a time, on the recurrent sums
 * {@link ScalarGemm#step} has just stored: the operations of {@link CellPointwise}, {@link CifgPointwise} and
 * {@link GruPointwise} in the same order, with the same activation approximations ({@link Activations}), so the
 * scalar family gives the vector family's bits.
 */
final class ScalarPostgemm {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private ScalarPostgemm() {
    }

    /**
     * The cell {@code cell} ({@link Postgemm}'s codes) on the units of blocks {@code [blockFrom, blockTo)} of every
     * row; the arguments are {@link StepCall#set}'s.
     */
    static void forward(int cell, GateLayout layout, MemorySegment inputs, long inputsOffset, MemorySegment sums,
                        long sumsOffset, MemorySegment hPrev, long hPrevRowBytes, MemorySegment c,
                        MemorySegment hNext, float clip, MemorySegment cellRow, int rows, int blockFrom, int blockTo) {
        int lanes = layout.lanes();
        for (int row = 0; row < rows; row++) {
            long inputRow = inputsOffset / Float.BYTES + (long) row * layout.gateRowFloats();
            long sumRow = sumsOffset / Float.BYTES + (long) row * layout.gateRowFloats();
            for (int unit = blockFrom * lanes; unit < blockTo * lanes; unit++) {
                long state = (long) row * layout.paddedHidden() + unit;
                if (cell == Postgemm.GRU) {
                    gru(layout, inputs, inputRow, sums, sumRow, hPrev.get(FLOAT, row * hPrevRowBytes
                            + (long) unit * Float.BYTES), c, hNext, state, clip, cellRow, unit);
                } else {
                    lstm(cell == Postgemm.CIFG || cell == Postgemm.CIFG_PEEPHOLES, layout, inputs, inputRow, sums,
                            sumRow, c, hNext, state, clip,
                            cell == Postgemm.LSTM_PEEPHOLES || cell == Postgemm.CIFG_PEEPHOLES ? cellRow : null, unit);
                }
            }
        }
    }

    /**
     * {@link CellPointwise} on one unit, or with {@code coupled} {@link CifgPointwise}; {@code peepholes} null
     * for none.
     */
    private static void lstm(boolean coupled, GateLayout layout, MemorySegment inputs, long inputRow,
                             MemorySegment sums, long sumRow, MemorySegment c, MemorySegment hNext, long state,
                             float clip, MemorySegment peepholes, int unit) {
        int candidateGate = coupled ? 1 : 2;
        int outputGate = candidateGate + 1;
        float previousCell = c.getAtIndex(FLOAT, state);
        float inputZ = preActivation(layout, inputs, inputRow, sums, sumRow, unit, 0);
        float forgetZ = coupled ? 0f : preActivation(layout, inputs, inputRow, sums, sumRow, unit, 1);
        float candidateZ = preActivation(layout, inputs, inputRow, sums, sumRow, unit, candidateGate);
        float outputZ = preActivation(layout, inputs, inputRow, sums, sumRow, unit, outputGate);
        if (peepholes != null) {
            inputZ = peephole(layout, inputs, inputRow, peepholes, unit, 0, previousCell, inputZ);
            if (!coupled) {
                forgetZ = peephole(layout, inputs, inputRow, peepholes, unit, 1, previousCell, forgetZ);
            }
        }
        float input = Activations.sigmoid(clip(inputZ, clip));
        float forget = coupled ? 1f - input : Activations.sigmoid(clip(forgetZ, clip));
        float candidate = Activations.tanh(clip(candidateZ, clip));
        float cell = Math.fma(forget, previousCell, input * candidate);
        if (peepholes != null) {
            outputZ = peephole(layout, inputs, inputRow, peepholes, unit, outputGate, cell, outputZ);
        }
        float output = Activations.sigmoid(clip(outputZ, clip));
        sums.setAtIndex(FLOAT, sumRow + layout.gateIndex(0, unit), input);
        if (!coupled) {
            sums.setAtIndex(FLOAT, sumRow + layout.gateIndex(1, unit), forget);
        }
        sums.setAtIndex(FLOAT, sumRow + layout.gateIndex(candidateGate, unit), candidate);
        sums.setAtIndex(FLOAT, sumRow + layout.gateIndex(outputGate, unit), output);
        c.setAtIndex(FLOAT, state, cell);
        hNext.setAtIndex(FLOAT, state, output * Activations.tanh(clip(cell, clip)));
    }

    /**
     * {@link GruPointwise#update} on one unit, b_hn in {@code recurrentBias}; with {@code candidatePreActivations}
     * (null: none kept) the pre-activations of r and z over their inputs and n's into it.
     */
    private static void gru(GateLayout layout, MemorySegment inputs, long inputRow, MemorySegment sums, long sumRow,
                            float previous, MemorySegment candidatePreActivations, MemorySegment hNext, long state,
                            float clip, MemorySegment recurrentBias, int unit) {
        long reset = layout.gateIndex(0, unit);
        long update = layout.gateIndex(1, unit);
        long candidate = layout.gateIndex(2, unit);
        boolean keep = candidatePreActivations != null;
        float resetZ = sums.getAtIndex(FLOAT, sumRow + reset) + inputs.getAtIndex(FLOAT, inputRow + reset);
        float updateZ = sums.getAtIndex(FLOAT, sumRow + update) + inputs.getAtIndex(FLOAT, inputRow + update);
        if (keep) {
            inputs.setAtIndex(FLOAT, inputRow + reset, resetZ);
            inputs.setAtIndex(FLOAT, inputRow + update, updateZ);
        }
        float r = Activations.sigmoid(clip(resetZ, clip));
        float z = Activations.sigmoid(clip(updateZ, clip));
        float m = sums.getAtIndex(FLOAT, sumRow + candidate) + recurrentBias.getAtIndex(FLOAT, unit);
        float candidateZ = Math.fma(r, m, inputs.getAtIndex(FLOAT, inputRow + candidate));
        if (keep) {
            candidatePreActivations.setAtIndex(FLOAT, state, candidateZ);
        }
        float n = Activations.tanh(clip(candidateZ, clip));
        inputs.setAtIndex(FLOAT, inputRow + candidate, m);
        sums.setAtIndex(FLOAT, sumRow + reset, r);
        sums.setAtIndex(FLOAT, sumRow + update, z);
        sums.setAtIndex(FLOAT, sumRow + candidate, n);
        hNext.setAtIndex(FLOAT, state, Math.fma(z, previous - n, n));
    }

    /** The recurrent sum plus the input pre-activation of one gate, written back over the input as z. */
    private static float preActivation(GateLayout layout, MemorySegment inputs, long inputRow, MemorySegment sums,
                                       long sumRow, int unit, int gate) {
        long column = layout.gateIndex(gate, unit);
        float preActivation = sums.getAtIndex(FLOAT, sumRow + column) + inputs.getAtIndex(FLOAT, inputRow + column);
        inputs.setAtIndex(FLOAT, inputRow + column, preActivation);
        return preActivation;
    }

    /** z plus its peephole term {@code p*cell} as one FMA, written back over the input pre-activation. */
    private static float peephole(GateLayout layout, MemorySegment inputs, long inputRow, MemorySegment peepholes,
                                  int unit, int gate, float cell, float z) {
        long column = layout.gateIndex(gate, unit);
        float preActivation = Math.fma(peepholes.getAtIndex(FLOAT, column), cell, z);
        inputs.setAtIndex(FLOAT, inputRow + column, preActivation);
        return preActivation;
    }

    /** {@code value} clipped to {@code [-clip, clip]}, in the vector kernel's order (max, then min). */
    static float clip(float value, float clip) {
        return Math.min(Math.max(value, -clip), clip);
    }
}
