/**
 * {@link dev.vlstm.reference.ReferenceLstm}: the naive LSTM in double precision, forward and backward, the oracle
 * that the kernels are tested against and the baseline of the benchmarks.
 */
package dev.vlstm.reference;
