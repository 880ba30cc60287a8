#!/usr/bin/python3
"""PyTorch reference trainer for `make bench-train`: trains the asrd architecture (stacked GRU/LSTM ->
Linear -> log-softmax -> CTC) with Adam and global-norm clipping on the batches that
`asr-train --dump-batches` wrote, and prints its throughput in audio seconds per second.

Same conventions as asr-train: loss = sum of per-utterance CTC losses / B, blank = 0, PyTorch's
default initialisation, torch.set_num_threads(THREADS). The first step is a warm-up and not timed.
Usage: torch_train_ref.py BATCHES.bin [--steps N] [--layers 3] [--hidden 320] [--type gru]
                          [--lr 1e-3] [--clip 5] [--threads 2]
"""
import argparse
import struct
import time

import numpy as np
import torch


def read_batches(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"ASRBATCH":
        raise SystemExit(f"{path}: not a batch dump")
    nb, inp, n_out, _ = struct.unpack_from("<4i", data, 8)
    off = 24
    batches = []
    for _ in range(nb):
        T, B, nl = struct.unpack_from("<3i", data, off)
        off += 12
        (secs,) = struct.unpack_from("<d", data, off)
        off += 8
        x = np.frombuffer(data, np.float32, T * B * inp, off).reshape(T, B, inp)
        off += 4 * T * B * inp
        lens = np.frombuffer(data, np.int32, B, off)
        off += 4 * B
        label_lens = np.frombuffer(data, np.int32, B, off)
        off += 4 * B
        labels = np.frombuffer(data, np.int32, nl, off)
        off += 4 * nl
        batches.append((torch.from_numpy(x.copy()), torch.from_numpy(lens.astype(np.int64)),
                        torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(label_lens.astype(np.int64)),
                        secs))
    return inp, n_out, batches


class Net(torch.nn.Module):
    def __init__(self, inp, hidden, layers, n_out, kind):
        super().__init__()
        rnn = torch.nn.GRU if kind == "gru" else torch.nn.LSTM
        self.rnn = rnn(inp, hidden, num_layers=layers)
        self.proj = torch.nn.Linear(hidden, n_out)

    def forward(self, x):
        y, _ = self.rnn(x)
        return torch.log_softmax(self.proj(y), dim=-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("batches")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=320)
    ap.add_argument("--type", default="gru", choices=["gru", "lstm"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    inp, n_out, batches = read_batches(a.batches)
    net = Net(inp, a.hidden, a.layers, n_out, a.type)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    audio = 0.0
    t0 = time.perf_counter()
    loss_v = 0.0
    for s in range(a.steps):
        x, lens, labels, label_lens, secs = batches[s % len(batches)]
        opt.zero_grad()
        lp = net(x)
        loss = torch.nn.functional.ctc_loss(lp, labels, lens, label_lens, blank=0, reduction="sum",
                                            zero_infinity=True) / x.shape[1]
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), a.clip)
        opt.step()
        loss_v = float(loss)
        if s == 0:
            t0 = time.perf_counter()
        else:
            audio += secs
        if s == 0 or (s + 1) % 10 == 0:
            print(f"step {s + 1} loss {loss_v:.3f}", flush=True)
    dt = time.perf_counter() - t0
    print(f"torch: {a.steps} steps (first untimed), {audio:.1f} s of audio in {dt:.2f} s: "
          f"{audio / dt:.1f} audio s/s (final loss {loss_v:.3f})")


if __name__ == "__main__":
    main()
