/**
 * Training helpers: optimizers and clipping over a whole LSTM's or GRU's {@link dev.vlstm.Parameters} and
 * {@link dev.vlstm.Gradients}.
 */
package dev.vlstm.train;
