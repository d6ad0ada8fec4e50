/** Training helpers over {@link dev.vlstm.LstmParameters} and {@link dev.vlstm.LstmGradients}: optimizers and clipping. */
package dev.vlstm.train;
