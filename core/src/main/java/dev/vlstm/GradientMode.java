package dev.vlstm;

/** Whether {@link Trainer#backward} replaces the weight gradients or adds to them. */
public enum GradientMode {
    /** The gradients of this call replace what the {@link Gradients} held. */
    OVERWRITE,
    /** The gradients of this call are added: sums over minibatches or truncated-BPTT windows. */
    ACCUMULATE
}
