package dev.vlstm.reference;

/**
 * One layer and direction of a {@link ReferenceStack}: an LSTM ({@link ReferenceLstm}, with or without peepholes,
 * projection, clip or coupled input-forget gate) or a GRU ({@link ReferenceGru}). The stack runs each cell's own
 * forward and backward and only moves rows between cells.
 */
public sealed interface ReferenceCell permits ReferenceLstm, ReferenceGru {

    /** {@return I: features per input row} */
    int inputSize();

    /** {@return H: hidden units, the width of the LSTM's c} */
    int hiddenSize();

    /** {@return the width of h, y and of the recurrent input: the LSTM's projection size P, else H} */
    int outputSize();
}
