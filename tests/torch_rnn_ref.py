#!/usr/bin/python3
"""torch_rnn_ref.py OUT.bin - random GRU/LSTM stacks run by torch.nn.GRU / torch.nn.LSTM over whole
sequences (float32 and float64), written for tests/test_torch_rnn.c to replay frame by frame.

File (little-endian): int32 n_cases, then per case
  int32 type (1 GRU, 2 LSTM), layers, I, H, T, bits (32 or 64: torch's dtype for this case)
  per layer: w_ih (G*H, I), w_hh (G*H, H), b_ih (G*H), b_hh (G*H)        float64
  h0 (layers, H), c0 (layers, H; LSTM only)                               float64
  x (T, I), y (T, H) last layer's outputs, h_n (layers, H), c_n (LSTM)    float64
Weights of float32 cases are float32 values (exact in float64).
"""
import struct
import sys

import torch

CASES = [  # type, layers, I, H, T, weight scale
    ("gru", 1, 5, 7, 20, 1.0),
    ("gru", 3, 120, 320, 30, 1.0),
    ("gru", 2, 1, 1, 10, 3.0),
    ("gru", 2, 17, 33, 40, 2.0),
    ("lstm", 2, 13, 33, 50, 1.0),
    ("lstm", 3, 40, 64, 25, 2.0),
    ("lstm", 1, 9, 16, 12, 1.0),
]


def main():
    out = open(sys.argv[1], "wb")
    torch.manual_seed(1234)
    cases = [(c, bits) for c in CASES for bits in (32, 64)]
    out.write(struct.pack("<i", len(cases)))
    for (kind, layers, I, H, T, scale), bits in cases:
        dtype = torch.float32 if bits == 32 else torch.float64
        cls = torch.nn.GRU if kind == "gru" else torch.nn.LSTM
        net = cls(I, H, num_layers=layers).to(dtype)
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(scale)
        x = (torch.randn(T, 1, I) * 2.0).to(dtype)
        h0 = (torch.randn(layers, 1, H) * 0.5).to(dtype)
        c0 = (torch.randn(layers, 1, H) * 0.5).to(dtype)
        with torch.no_grad():
            if kind == "gru":
                y, h_n = net(x, h0)
                c_n = None
            else:
                y, (h_n, c_n) = net(x, (h0, c0))
        out.write(struct.pack("<6i", 1 if kind == "gru" else 2, layers, I, H, T, bits))

        def put(t):
            out.write(t.detach().to(torch.float64).contiguous().numpy().astype("<f8").tobytes())

        for k in range(layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                put(getattr(net, f"{name}_l{k}"))
        put(h0)
        if kind == "lstm":
            put(c0)
        put(x)
        put(y)
        put(h_n)
        if kind == "lstm":
            put(c_n)
    out.close()


if __name__ == "__main__":
    main()
