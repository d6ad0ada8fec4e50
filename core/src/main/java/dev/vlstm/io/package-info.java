/**
 * Models trained elsewhere: PyTorch {@code nn.LSTM} state_dicts in safetensors files ({@link dev.vlstm.io.PyTorchLstm},
 * {@link dev.vlstm.io.SafeTensors}), NumPy {@code .npy} arrays ({@link dev.vlstm.io.Npy}), and the ONNX and Keras gate
 * conventions ({@link dev.vlstm.io.GateConventions}). Every bad file is refused with the file and tensor named.
 */
package dev.vlstm.io;
