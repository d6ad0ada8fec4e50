package dev.vlstm;

/**
 * What a {@link Runner} of an LSTM or GRU ({@link Options#nonFiniteInputs()}) does with NaN and infinite values in
 * its inputs: x, h0 and c0 of a forward, x and every layer's h and c in the state of a step. Weights are always checked when they are loaded, whatever this says. A GRU has no
 * c: what is said of c0 below does not apply to it, and a NaN in h0[b] of a GRU reaches every unit of row b at the
 * first step.
 */
public enum NonFiniteInputs {
    /**
     * The default: nothing is checked and IEEE arithmetic decides. A NaN in row b of x at step t, or anywhere in
     * h0[b], makes every hidden unit of batch row b NaN from that step on (y, hT and cT), since every gate of the
     * row reads the whole input and hidden vector; a NaN in c0[b][j] makes unit j NaN at the first step and the
     * whole row from the second. Other batch rows, and steps before t, are exactly as without it. An infinity
     * gives infinite gate pre-activations, which saturate the gates (the outputs may stay finite, though they mean
     * nothing), or NaN where it meets a zero weight or an infinity of the other sign.
     */
    PROPAGATE,
    /**
     * Every input value is checked before anything is computed or written: the first NaN or infinity throws an
     * {@link IllegalArgumentException} naming the argument and the element, e.g. {@code x[3][0][7] is NaN}, and
     * the call changes nothing. Costs one pass over the inputs (for a streaming step also over the state's h and
     * c), small next to the step's arithmetic. With finite weights this makes every output finite.
     */
    REJECT
}
