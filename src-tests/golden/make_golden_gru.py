#!/usr/bin/python3
"""Golden cases for vlstm's GRU parity tests, made with PyTorch's nn.GRU (Debian's python3-torch).

For each case: a model state_dict (model.safetensors, names under 'gru.'), inputs (x.npy, time-major [T][B][I] or
batch-first [B][T][I] for cases named batch_first, optional h0.npy [L*D][B][H], upstream gradients dy.npy and
dhn.npy), and what PyTorch computes from them: the outputs
(expected_y.npy, expected_hn.npy) and the gradient of sum(y*dy) + sum(hn*dhn) with respect to every parameter and
x, h0 (expected_grad.safetensors). A case with lengths runs its padded batch through pack_padded_sequence
(enforce_sorted=False) and pad_packed_sequence, and writes them to lengths.txt (comma-separated, the CLI's
--lengths). The tests read these files; they do not need Python.

Run from the repository root:  /usr/bin/python3 src-tests/golden/make_golden_gru.py
"""
import os

import numpy as np
import torch

from make_golden import save_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden-gru")

CASES = [
    # name, input_size, hidden_size, steps, batch, bias, initial_state[, num_layers, bidirectional, batch_first
    # [, lengths]]
    ("i3_h5_t4_b2", 3, 5, 4, 2, True, True),
    ("i17_h33_t6_b3", 17, 33, 6, 3, True, False),
    ("i1_h1_t1_b1_no_bias", 1, 1, 1, 1, False, True),
    ("i7_h20_t9_b9", 7, 20, 9, 9, True, True),
    ("i3_h5_l2_t4_b2", 3, 5, 4, 2, True, True, 2, False, False),
    ("i4_h3_t5_b2_bidirectional", 4, 3, 5, 2, True, True, 1, True, False),
    ("i5_h6_l3_t4_b3_bidirectional_batch_first", 5, 6, 4, 3, True, True, 3, True, True),
    ("i3_h4_l2_t3_b2_no_bias", 3, 4, 3, 2, False, False, 2, False, False),
    ("i17_h33_l2_t5_b5_bidirectional_no_bias", 17, 33, 5, 5, False, True, 2, True, False),
    ("i3_h5_t6_b4_lengths", 3, 5, 6, 4, True, True, 1, False, False, [3, 6, 1, 4]),
    ("i4_h3_l2_t5_b5_bidirectional_batch_first_lengths", 4, 3, 5, 5, True, True, 2, True, True, [2, 5, 1, 5, 3]),
]


class Wrapper(torch.nn.Module):
    def __init__(self, gru):
        super().__init__()
        self.gru = gru


def make(name, input_size, hidden_size, steps, batch, bias, initial_state, num_layers=1, bidirectional=False,
         batch_first=False, lengths=None):
    torch.manual_seed(sum(map(ord, name)))
    gru = torch.nn.GRU(input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional)
    states = num_layers * (2 if bidirectional else 1)
    x_shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    x = torch.randn(x_shape, requires_grad=True)
    h0 = torch.randn((states, batch, hidden_size), requires_grad=True)
    packed = x if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    y, hn = gru(packed, h0) if initial_state else gru(packed)
    if lengths is not None:
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=batch_first, total_length=steps)
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
    if lengths is not None:
        with open(os.path.join(folder, "lengths.txt"), "w") as out:
            out.write(",".join(map(str, lengths)) + "\n")
    grads = {"gru." + k: p.grad.numpy() for k, p in gru.named_parameters()}
    grads["x"] = x.grad.numpy()
    if initial_state:
        grads["h0"] = h0.grad.numpy()
    save_safetensors(os.path.join(folder, "expected_grad.safetensors"), grads)


if __name__ == "__main__":
    for case in CASES:
        make(*case)
    print("golden GRU cases written to", os.path.normpath(OUT))
