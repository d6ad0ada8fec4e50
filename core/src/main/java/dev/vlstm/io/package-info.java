/**
 * Models trained elsewhere: PyTorch {@code nn.LSTM} and {@code nn.GRU} state_dicts in safetensors files
 * ({@link dev.vlstm.io.StateDict}, {@link dev.vlstm.io.SafeTensors}), NumPy {@code .npy} arrays
 * ({@link dev.vlstm.io.Npy}), and the ONNX and Keras gate conventions ({@link dev.vlstm.io.GateConventions}). Every
 * bad file is refused with the file and tensor named.
 */
package dev.vlstm.io;
