#!/usr/bin/python3
"""Independent reference for mfcc_warp_matrix: torchaudio.compliance.kaldi.mfcc with vtln_warp
(Kaldi's VTLN-warped mel filterbank) on the shipped model's frontend (40 mel bins, 40 cepstra,
low 20 Hz, high nyquist - 400 Hz, no energy, dither 0), compared with what the C side prints
(tests/tool_warp.c): the plain MFCC c and W(alpha) c for alpha 0.9 and 1.1.

  vtln_warp_ref.py batch LIST [--max-ratio-down R] [--max-ratio-up R] [--max-ratio-cmvn R]
                              [--max-swap S]
      each line of LIST: AUDIO<TAB>PLAIN_TXT<TAB>W0.9_TXT<TAB>W1.1_TXT. For each file and alpha,
      with ref = torchaudio's warped MFCC (Frobenius norms over all frames and coefficients):
        ratio      = |W(alpha) c - ref| / |c - ref|   (the warp must explain most of the change;
                     bound --max-ratio-down for alpha < 1, --max-ratio-up for alpha > 1)
        ratio_cmvn = the same with each coefficient's mean over the file removed from both
                     differences (what CMVN would remove; bound --max-ratio-cmvn)
        swap       = |W(alpha) c - ref| / |W(other) c - ref|  (0.9 and 1.1 must not be swapped)
      prints "OK ..." or "FAIL ..." per file and alpha, then "pooled ..." over all files; exit 1
      on any failure. Measured values: tests/e2e_mfcc_warp.sh.

The DCT is Kaldi's double-precision one (kaldi_mfcc_ref.py patches torchaudio's float32 matrix),
so the unwarped MFCC agrees with the C frontend to ~1e-3 and every difference measured here is
the warp approximation's.
"""
import argparse
import sys

import numpy as np
import torch
import torchaudio

import kaldi_mfcc_ref  # noqa: F401 - installs Kaldi's DCT matrix into torchaudio

ALPHAS = (0.9, 1.1)


def load(path):
    wav, rate = torchaudio.load(path, normalize=False)
    if wav.dtype != torch.int16:
        wav, rate = torchaudio.load(path)
        wav = wav * 32768.0
    return wav.to(torch.float32).mean(dim=0, keepdim=True), rate


def warped(wav, rate, alpha):
    return torchaudio.compliance.kaldi.mfcc(
        wav, sample_frequency=float(rate), dither=0.0, use_energy=False, num_mel_bins=40, num_ceps=40,
        low_freq=20.0, high_freq=-400.0, vtln_warp=alpha, vtln_low=100.0, vtln_high=-500.0,
        frame_length=25.0, frame_shift=10.0, preemphasis_coefficient=0.97, cepstral_lifter=22.0,
        window_type="povey", remove_dc_offset=True, snip_edges=True, round_to_power_of_two=True,
    ).numpy().astype(np.float64)


def cnorm(e):
    """Squared Frobenius norm of e with each column's mean removed."""
    return float(np.sum((e - e.mean(axis=0)) ** 2))


def read(path):
    rows = [l.split() for l in open(path) if l.strip()]
    return np.array(rows, dtype=np.float64).reshape(len(rows), -1) if rows else np.zeros((0, 40))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("batch")
    b.add_argument("list")
    b.add_argument("--max-ratio-down", type=float, default=0.5, help="ratio bound for alpha < 1")
    b.add_argument("--max-ratio-up", type=float, default=0.5, help="ratio bound for alpha > 1")
    b.add_argument("--max-ratio-cmvn", type=float, default=0.5)
    b.add_argument("--max-swap", type=float, default=0.5)
    a = ap.parse_args()
    bad = 0
    pooled = {al: [0.0, 0.0, 0.0] for al in ALPHAS}  # squared errors: warp, plain, swapped
    for line in open(a.list):
        f = line.rstrip("\n").split("\t")
        if len(f) < 4:
            continue
        audio, plain = f[0], read(f[1])
        ours = {ALPHAS[0]: read(f[2]), ALPHAS[1]: read(f[3])}
        wav, rate = load(audio)
        for al in ALPHAS:
            ref = warped(wav, rate, al)
            other = ours[ALPHAS[1] if al == ALPHAS[0] else ALPHAS[0]]
            if not (ref.shape == plain.shape == ours[al].shape == other.shape) or ref.size == 0:
                print(f"FAIL {audio} alpha {al}: shapes ref {ref.shape} plain {plain.shape} warped "
                      f"{ours[al].shape}")
                bad += 1
                continue
            e_w = float(np.sum((ours[al] - ref) ** 2))
            e_p = float(np.sum((plain - ref) ** 2))
            e_s = float(np.sum((other - ref) ** 2))
            for i, e in enumerate((e_w, e_p, e_s)):
                pooled[al][i] += e
            ratio, swap = (e_w / e_p) ** 0.5, (e_w / e_s) ** 0.5
            # The same ratio after removing each coefficient's mean over the file (what CMVN does):
            # a constant per-coefficient bias is most of the error at alpha < 1 (e2e_mfcc_warp.sh).
            ratio_c = (cnorm(ours[al] - ref) / cnorm(plain - ref)) ** 0.5
            # Errors relative to the reference's spread about its per-coefficient means (for the log).
            spread = float(np.sum((ref - ref.mean(axis=0)) ** 2))
            max_ratio = a.max_ratio_down if al < 1 else a.max_ratio_up
            ok = ratio < max_ratio and ratio_c < a.max_ratio_cmvn and swap < a.max_swap
            print(f"{'OK' if ok else 'FAIL'} {audio} alpha {al}: frames={ref.shape[0]} ratio={ratio:.3f} "
                  f"ratio_cmvn={ratio_c:.3f} swap={swap:.3f} rel_warp={(e_w / spread) ** 0.5:.3f} "
                  f"rel_plain={(e_p / spread) ** 0.5:.3f}")
            bad += not ok
    for al in ALPHAS:
        w, p, s = pooled[al]
        if p > 0:
            print(f"pooled alpha {al}: ratio={(w / p) ** 0.5:.3f} swap={(w / s) ** 0.5:.3f}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
