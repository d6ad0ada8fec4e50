/**
 * The naive LSTM ({@link dev.vlstm.reference.ReferenceLstm}, also with peepholes, projection, clip or the coupled
 * input-forget gate) and GRU ({@link dev.vlstm.reference.ReferenceGru}) in double precision, forward and backward,
 * one layer or a stack of them ({@link dev.vlstm.reference.ReferenceStack}): the oracle that the kernels are tested
 * against and the baseline of the benchmarks.
 */
package dev.vlstm.reference;
