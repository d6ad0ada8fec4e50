#!/usr/bin/python3
"""Golden cases for vlstm's parity tests, made with PyTorch's nn.LSTM (Debian's python3-torch).

For each case: a model state_dict (model.safetensors, names under 'lstm.'), inputs (x.npy, optional h0.npy and
c0.npy, upstream gradients dy.npy, dhn.npy, dcn.npy), and what PyTorch computes from them: the outputs
(expected_y.npy, expected_hn.npy, expected_cn.npy) and the gradient of sum(y*dy) + sum(hn*dhn) + sum(cn*dcn)
with respect to every parameter and x, h0, c0 (expected_grad.safetensors). A case with lengths runs its padded
batch through pack_padded_sequence (enforce_sorted=False) and pad_packed_sequence, and writes them to lengths.txt
(comma-separated, the CLI's --lengths). The tests read these files; they do not need Python.

Run from the repository root:  /usr/bin/python3 src-tests/golden/make_golden.py
"""
import json
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden")

CASES = [
    # name, input_size, hidden_size, steps, batch, batch_first, bias, initial_state, num_layers, bidirectional[,
    # lengths[, proj_size]]
    ("i3_h5_t4_b2", 3, 5, 4, 2, False, True, True, 1, False),
    ("i17_h33_t6_b3_batch_first", 17, 33, 6, 3, True, True, False, 1, False),
    ("i1_h1_t1_b1_no_bias", 1, 1, 1, 1, False, False, True, 1, False),
    ("i7_h20_t9_unbatched", 7, 20, 9, None, False, True, True, 1, False),
    ("i3_h5_l2_t4_b2", 3, 5, 4, 2, False, True, True, 2, False),
    ("i4_h3_t5_b2_bidirectional", 4, 3, 5, 2, False, True, True, 1, True),
    ("i5_h6_l3_t4_b3_bidirectional_batch_first", 5, 6, 4, 3, True, True, True, 3, True),
    ("i3_h4_l2_t3_b2_no_bias", 3, 4, 3, 2, False, False, False, 2, False),
    ("i3_h5_t6_b4_lengths", 3, 5, 6, 4, False, True, True, 1, False, [3, 6, 1, 4]),
    ("i4_h3_l2_t5_b5_bidirectional_batch_first_lengths", 4, 3, 5, 5, True, True, True, 2, True, [2, 5, 1, 5, 3]),
    ("i4_h6_p3_l2_t5_b3_bidirectional_proj", 4, 6, 5, 3, False, True, True, 2, True, None, 3),
    ("i3_h7_p2_l2_t6_b4_batch_first_proj_lengths", 3, 7, 6, 4, True, True, True, 2, False, [6, 2, 4, 1], 2),
    ("i5_h9_p4_l2_t7_b6_bidirectional_batch_first_proj_lengths", 5, 9, 7, 6, True, True, True, 2, True,
     [7, 3, 1, 5, 7, 2], 4),
    ("i6_h17_p5_t6_b3_proj", 6, 17, 6, 3, False, True, True, 1, False, None, 5),
]


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class Wrapper(torch.nn.Module):
    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm


def make(name, input_size, hidden_size, steps, batch, batch_first, bias, initial_state, num_layers, bidirectional,
         lengths=None, proj_size=0):
    torch.manual_seed(sum(map(ord, name)))
    lstm = torch.nn.LSTM(input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                         bidirectional=bidirectional, proj_size=proj_size)
    states = num_layers * (2 if bidirectional else 1)
    h_size = proj_size if proj_size > 0 else hidden_size
    if batch is None:
        x_shape, state_shape, h_shape = (steps, input_size), (states, hidden_size), (states, h_size)
    else:
        x_shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
        state_shape, h_shape = (states, batch, hidden_size), (states, batch, h_size)
    x = torch.randn(x_shape, requires_grad=True)
    h0 = torch.randn(h_shape, requires_grad=True)
    c0 = torch.randn(state_shape, requires_grad=True)
    packed = x if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    if initial_state:
        y, (hn, cn) = lstm(packed, (h0, c0))
    else:
        y, (hn, cn) = lstm(packed)
    if lengths is not None:
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=batch_first, total_length=steps)
    dy, dhn, dcn = torch.randn(y.shape), torch.randn(hn.shape), torch.randn(cn.shape)
    ((y * dy).sum() + (hn * dhn).sum() + (cn * dcn).sum()).backward()

    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    save_safetensors(os.path.join(folder, "model.safetensors"),
                     {k: v.detach().numpy() for k, v in Wrapper(lstm).state_dict().items()})
    arrays = {"x": x, "dy": dy, "dhn": dhn, "dcn": dcn, "expected_y": y, "expected_hn": hn, "expected_cn": cn}
    if initial_state:
        arrays.update({"h0": h0, "c0": c0})
    for key, value in arrays.items():
        np.save(os.path.join(folder, key + ".npy"), value.detach().numpy().astype("<f4"))
    if lengths is not None:
        with open(os.path.join(folder, "lengths.txt"), "w") as out:
            out.write(",".join(map(str, lengths)) + "\n")
    grads = {"lstm." + k: p.grad.numpy() for k, p in lstm.named_parameters()}
    grads["x"] = x.grad.numpy()
    # h0 and c0 are inputs of the loss only when given; otherwise PyTorch starts from zeros, whose gradient is the
    # same expression, so vlstm reports it either way; compare it only when it was given.
    if initial_state:
        grads["h0"], grads["c0"] = h0.grad.numpy(), c0.grad.numpy()
    save_safetensors(os.path.join(folder, "expected_grad.safetensors"), grads)


if __name__ == "__main__":
    for case in CASES:
        make(*case)
    print("golden cases written to", os.path.normpath(OUT))
