/**
 * LSTM and GRU models in PyTorch's convention, one layer or whole stacks (layers and directions, as
 * {@code nn.LSTM} and {@code nn.GRU}), for inference and training:
 * <ul>
 *   <li>{@link dev.vlstm.Vlstm#load} reads a PyTorch file into a {@link dev.vlstm.Model} (sizes:
 *       {@link dev.vlstm.RnnShape}; settings: {@link dev.vlstm.Options}), packed once and shared between threads, or
 *       {@link dev.vlstm.Model#pack} packs {@link dev.vlstm.Parameters};</li>
 *   <li>{@link dev.vlstm.Runner}s, one per thread, run whole sequences (also of different lengths) and streaming
 *       steps; {@link dev.vlstm.State}s, one per stream, carry a stream from step to step;</li>
 *   <li>many streams of one model served at once, their pending frames stepped together as one batch:
 *       {@link dev.vlstm.StreamBatcher} (settings: {@link dev.vlstm.BatcherOptions});</li>
 *   <li>{@link dev.vlstm.Trainer}s (backpropagation through time, every gradient) write {@link dev.vlstm.Gradients}
 *       of {@link dev.vlstm.Parameters}, also window by window ({@link dev.vlstm.TruncatedBptt}); optimizers are in
 *       {@code dev.vlstm.train}.</li>
 * </ul>
 * Tensors are row-major floats in native byte order, time-major ({@code [T][B][I]}) unless a
 * {@link dev.vlstm.SequenceLayout} says batch-first, in heap or native {@link java.lang.foreign.MemorySegment}s or
 * float arrays. Objects that hold off-heap memory free it in {@code close()}; {@link dev.vlstm.NativeMemory} counts
 * what is held.
 */
package dev.vlstm;
