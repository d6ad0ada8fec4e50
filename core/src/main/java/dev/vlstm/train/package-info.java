/**
 * Training helpers: optimizers and clipping, over one LSTM layer's {@link dev.vlstm.LstmParameters} and
 * {@link dev.vlstm.LstmGradients}, or over a whole LSTM's or GRU's {@link dev.vlstm.Parameters} and
 * {@link dev.vlstm.Gradients}.
 */
package dev.vlstm.train;
