#!/usr/bin/python3
"""ONNX models exported by PyTorch itself, for vlstm's ONNX loading tests (Debian's python3-torch).

For each case: an nn.LSTM or nn.GRU of one layer, forward or bidirectional, time-major, exported by
torch.onnx.export (opset 14, constant folding on, so the weights are initializers already in ONNX's gate order) to
model.onnx, with graph inputs x [T][B][I], h0 (and an LSTM's c0) [D][B][H] and outputs y [T][B][D*H], hn (and cn)
[D][B][H]; the inputs x.npy, h0.npy (c0.npy); and what PyTorch computes from them: expected_y.npy, expected_hn.npy
(expected_cn.npy). The tests read the weights out of model.onnx as a user would, and need no Python.

Run from the repository root:  /usr/bin/python3 src-tests/golden/make_onnx_exported.py
"""
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "onnx-exported")

CASES = [
    # name, cell, input_size, hidden_size, steps, batch, bidirectional
    ("lstm_i5_h7_t6_b3", "lstm", 5, 7, 6, 3, False),
    ("lstm_i4_h6_t5_b2_bidirectional", "lstm", 4, 6, 5, 2, True),
    ("gru_i5_h7_t6_b3", "gru", 5, 7, 6, 3, False),
    ("gru_i3_h5_t4_b2_bidirectional", "gru", 3, 5, 4, 2, True),
]


def make(name, cell, input_size, hidden_size, steps, batch, bidirectional):
    torch.manual_seed(sum(map(ord, name)))
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(input_size, hidden_size,
                                                                 bidirectional=bidirectional)
    module.eval()
    directions = 2 if bidirectional else 1
    x = torch.randn(steps, batch, input_size)
    h0 = torch.randn(directions, batch, hidden_size)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with torch.no_grad():
        if cell == "lstm":
            c0 = torch.randn(directions, batch, hidden_size)
            y, (hn, cn) = module(x, (h0, c0))
            inputs, input_names, output_names = (x, (h0, c0)), ["x", "h0", "c0"], ["y", "hn", "cn"]
            arrays = {"x": x, "h0": h0, "c0": c0, "expected_y": y, "expected_hn": hn, "expected_cn": cn}
        else:
            y, hn = module(x, h0)
            inputs, input_names, output_names = (x, h0), ["x", "h0"], ["y", "hn"]
            arrays = {"x": x, "h0": h0, "expected_y": y, "expected_hn": hn}
        torch.onnx.export(module, inputs, os.path.join(folder, "model.onnx"), input_names=input_names,
                          output_names=output_names, opset_version=14, do_constant_folding=True)
    for key, value in arrays.items():
        np.save(os.path.join(folder, key + ".npy"), value.numpy().astype("<f4"))


if __name__ == "__main__":
    for case in CASES:
        make(*case)
        print("wrote", case[0])
