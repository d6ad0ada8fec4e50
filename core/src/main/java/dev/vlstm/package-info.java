/**
 * One LSTM layer in PyTorch's convention: {@link dev.vlstm.LstmWeights} (validated, packed once, shared between
 * threads), {@link dev.vlstm.LstmRunner} (one per thread: sequence forward and streaming steps) with
 * {@link dev.vlstm.LstmState}, and training: {@link dev.vlstm.LstmTrainer}, {@link dev.vlstm.LstmParameters},
 * {@link dev.vlstm.LstmGradients}. Tensors are row-major floats in native byte order, time-major
 * ({@code [T][B][I]}), in heap or native {@link java.lang.foreign.MemorySegment}s or float arrays.
 */
package dev.vlstm;
