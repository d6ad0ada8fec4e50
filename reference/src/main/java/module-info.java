/**
 * The double-precision scalar oracle of vlstm ({@link dev.vlstm.reference}): the naive LSTM and GRU, one layer or a
 * stack, forward and backward, written on plain arrays with no dependency on vlstm-core, so that the kernels are
 * tested against an implementation that shares none of their code.
 */
module dev.vlstm.reference {
    exports dev.vlstm.reference;
}
