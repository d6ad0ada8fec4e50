#!/usr/bin/python3
"""Golden cases for vlstm's GRU parity tests, made with PyTorch's nn.GRU (Debian's python3-torch).

For each case: a model state_dict (model.safetensors, names under 'gru.'), inputs (x.npy, time-major [T][B][I],
optional h0.npy [1][B][H], upstream gradients dy.npy and dhn.npy), and what PyTorch computes from them: the outputs
(expected_y.npy, expected_hn.npy) and the gradient of sum(y*dy) + sum(hn*dhn) with respect to every parameter and
x, h0 (expected_grad.safetensors). The tests read these files; they do not need Python.

Run from the repository root:  /usr/bin/python3 src-tests/golden/make_golden_gru.py
"""
import os

import numpy as np
import torch

from make_golden import save_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden-gru")

CASES = [
    # name, input_size, hidden_size, steps, batch, bias, initial_state
    ("i3_h5_t4_b2", 3, 5, 4, 2, True, True),
    ("i17_h33_t6_b3", 17, 33, 6, 3, True, False),
    ("i1_h1_t1_b1_no_bias", 1, 1, 1, 1, False, True),
    ("i7_h20_t9_b9", 7, 20, 9, 9, True, True),
]


class Wrapper(torch.nn.Module):
    def __init__(self, gru):
        super().__init__()
        self.gru = gru


def make(name, input_size, hidden_size, steps, batch, bias, initial_state):
    torch.manual_seed(sum(map(ord, name)))
    gru = torch.nn.GRU(input_size, hidden_size, bias=bias)
    x = torch.randn((steps, batch, input_size), requires_grad=True)
    h0 = torch.randn((1, batch, hidden_size), requires_grad=True)
    y, hn = gru(x, h0) if initial_state else gru(x)
    dy, dhn = torch.randn(y.shape), torch.randn(hn.shape)
    ((y * dy).sum() + (hn * dhn).sum()).backward()

    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    save_safetensors(os.path.join(folder, "model.safetensors"),
                     {k: v.detach().numpy() for k, v in Wrapper(gru).state_dict().items()})
    arrays = {"x": x, "dy": dy, "dhn": dhn, "expected_y": y, "expected_hn": hn}
    if initial_state:
        arrays["h0"] = h0
    for key, value in arrays.items():
        np.save(os.path.join(folder, key + ".npy"), value.detach().numpy().astype("<f4"))
    grads = {"gru." + k: p.grad.numpy() for k, p in gru.named_parameters()}
    grads["x"] = x.grad.numpy()
    if initial_state:
        grads["h0"] = h0.grad.numpy()
    save_safetensors(os.path.join(folder, "expected_grad.safetensors"), grads)


if __name__ == "__main__":
    for case in CASES:
        make(*case)
    print("golden GRU cases written to", os.path.normpath(OUT))
