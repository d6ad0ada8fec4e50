/**
 * LSTM and GRU models in PyTorch's convention, one layer or whole stacks (layers and directions, as
 * {@code nn.LSTM} and {@code nn.GRU}), for inference and training:
 * <ul>
 *   <li>one API for every model, LSTM or GRU: {@link dev.vlstm.Vlstm#load} reads a PyTorch file into a
 *       {@link dev.vlstm.Model} (sizes: {@link dev.vlstm.RnnShape}; settings: {@link dev.vlstm.Options}), whose
 *       {@link dev.vlstm.Runner}s run it and whose {@link dev.vlstm.State}s carry streams; the types below are what
 *       it runs on today;</li>
 *   <li>many streams of one model served at once, their pending frames stepped together as one batch:
 *       {@link dev.vlstm.StreamBatcher} (settings: {@link dev.vlstm.BatcherOptions});</li>
 *   <li>weights, validated and packed once, immutable and shared between threads: {@link dev.vlstm.LstmWeights},
 *       {@link dev.vlstm.LstmStackWeights}, {@link dev.vlstm.GruWeights}, {@link dev.vlstm.GruStackWeights};</li>
 *   <li>runners, one per thread, for whole sequences (also of different lengths) and streaming steps:
 *       {@link dev.vlstm.LstmRunner}, {@link dev.vlstm.LstmStackRunner}, {@link dev.vlstm.GruRunner},
 *       {@link dev.vlstm.GruStackRunner};</li>
 *   <li>states, one per stream, carried from step to step: {@link dev.vlstm.LstmState},
 *       {@link dev.vlstm.LstmStackState}, {@link dev.vlstm.GruState}, {@link dev.vlstm.GruStackState};</li>
 *   <li>trainers (backpropagation through time, every gradient): {@link dev.vlstm.LstmTrainer},
 *       {@link dev.vlstm.LstmStackTrainer}, {@link dev.vlstm.GruTrainer}, {@link dev.vlstm.GruStackTrainer}, with
 *       their parameters ({@link dev.vlstm.LstmParameters} and its stack and GRU twins), gradients
 *       ({@link dev.vlstm.LstmGradients} and its twins) and {@link dev.vlstm.TruncatedBptt}.</li>
 * </ul>
 * Tensors are row-major floats in native byte order, time-major ({@code [T][B][I]}) unless a
 * {@link dev.vlstm.SequenceLayout} says batch-first, in heap or native {@link java.lang.foreign.MemorySegment}s or
 * float arrays. Objects that hold off-heap memory free it in {@code close()}; {@link dev.vlstm.NativeMemory} counts
 * what is held.
 */
package dev.vlstm;
