#!/usr/bin/python3
"""Independent reference for asrd's MFCC: torchaudio.compliance.kaldi.mfcc (Kaldi's
compute-mfcc-feats re-implemented in PyTorch).

  kaldi_mfcc_ref.py compare AUDIO FEATS_TXT [--mel 23 --ceps 13 --low 20 --high 0]
      reads AUDIO on the int16 scale at its own rate, computes the reference MFCC with Kaldi's
      compute-mfcc-feats defaults (or the given mel/ceps/low/high), loads our frames from FEATS_TXT
      (one frame per line) and prints "OK frames=N maxdiff=X" or "FAIL ..." (exit 1).
  kaldi_mfcc_ref.py batch LIST
      the same for every line "AUDIO<TAB>FEATS_TXT[<TAB>MEL CEPS LOW HIGH]" of LIST, in one process.
  kaldi_mfcc_ref.py synth KIND RATE SECONDS OUT.wav
      writes a synthetic 16-bit mono WAV: sine, noise, chirp, silnoise (silence then noise).

Synthetic tones carry a noise floor (sine: 52 dB below the tone, chirp: 17 dB). On a clean digital
tone the weakest mel bins sit ~130 dB under the peak, where float32 FFT rounding decides their value:
torchaudio in float32 and in float64 then disagree by up to 0.3 on the same chirp, so no float
implementation (Kaldi's included) can match another to 1e-3 there. Real recordings always have such
a floor.

torchaudio's defaults differ from Kaldi's in two places, set here explicitly: use_energy
(torchaudio False, Kaldi true) and energy_floor (torchaudio 1.0, Kaldi 0.0). dither=0.0.
"""
import argparse
import math
import sys

import numpy as np
import torch
import torchaudio


def _kaldi_dct_matrix(num_ceps, num_mel_bins):
    """Kaldi's ComputeDctMatrix, in double as Kaldi computes it, laid out as torchaudio's
    _get_dct_matrix (num_mel_bins, num_ceps). torchaudio builds it in float32, and the rounding of
    cos() at large arguments alone moves liftered cepstra by ~2.5e-4 (23 bins) to ~1e-3 (40 bins)."""
    n = torch.arange(num_mel_bins, dtype=torch.float64).unsqueeze(1)
    k = torch.arange(num_ceps, dtype=torch.float64).unsqueeze(0)
    d = math.sqrt(2.0 / num_mel_bins) * torch.cos(math.pi / num_mel_bins * (n + 0.5) * k)
    d[:, 0] = math.sqrt(1.0 / num_mel_bins)
    return d.to(torch.float32)


torchaudio.compliance.kaldi._get_dct_matrix = _kaldi_dct_matrix


def reference(path, mel, ceps, low, high):
    wav, rate = torchaudio.load(path, normalize=False)
    if wav.dtype != torch.int16:
        # Same rule as asrd: normalised floats on the int16 scale.
        wav, rate = torchaudio.load(path)
        wav = wav * 32768.0
    wav = wav.to(torch.float32).mean(dim=0, keepdim=True)
    return torchaudio.compliance.kaldi.mfcc(
        wav, sample_frequency=float(rate), dither=0.0, energy_floor=0.0, use_energy=True,
        num_mel_bins=mel, num_ceps=ceps, low_freq=low, high_freq=high,
        frame_length=25.0, frame_shift=10.0, preemphasis_coefficient=0.97, cepstral_lifter=22.0,
        window_type="povey", remove_dc_offset=True, raw_energy=True, snip_edges=True,
        round_to_power_of_two=True).numpy()


def compare(a):
    try:
        ref = reference(a.audio, a.mel, a.ceps, a.low, a.high)
    except Exception as e:  # noqa: BLE001 - any reference failure is a failed comparison
        print(f"FAIL {a.audio}: torchaudio: {e}")
        return 1
    rows = [l.split() for l in open(a.feats) if l.strip()]
    ours = np.array(rows, dtype=np.float64).reshape(len(rows), -1) if rows else np.zeros((0, a.ceps))
    if ours.shape != ref.shape:
        print(f"FAIL {a.audio}: shape ours {ours.shape} vs torchaudio {ref.shape}")
        return 1
    diff = float(np.abs(ours - ref).max()) if ref.size else 0.0
    if not diff <= a.tol:
        i, j = np.unravel_index(np.argmax(np.abs(ours - ref)), ref.shape)
        print(f"FAIL {a.audio}: maxdiff {diff:.3g} at frame {i} coef {j} (ours {ours[i, j]:.6g}, "
              f"torchaudio {ref[i, j]:.6g}), frames {ref.shape[0]}")
        return 1
    print(f"OK {a.audio}: frames={ref.shape[0]} maxdiff={diff:.3g}")
    return 0


def batch(a):
    bad = 0
    for line in open(a.list):
        f = line.rstrip("\n").split("\t")
        if len(f) < 2:
            continue
        mel, ceps, low, high = (f[2].split() if len(f) > 2 else ["23", "13", "20", "0"])
        bad += compare(argparse.Namespace(audio=f[0], feats=f[1], mel=int(mel), ceps=int(ceps),
                                          low=float(low), high=float(high), tol=a.tol))
    return 1 if bad else 0


def synth(a):
    rate, n = a.rate, int(a.rate * a.seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(1234)
    if a.kind == "sine":
        x = 12000 * np.sin(2 * math.pi * 440.0 * t) + rng.normal(0, 30, n)
    elif a.kind == "noise":
        x = rng.normal(0, 3000, n)
    elif a.kind == "chirp":  # 100 Hz -> 0.45 * rate, linear, 17 dB above a white noise floor
        f0, f1 = 100.0, 0.45 * rate
        x = 10000 * np.sin(2 * math.pi * (f0 * t + (f1 - f0) * t * t / (2 * a.seconds)))
        x += rng.normal(0, 1000, n)
    elif a.kind == "silnoise":  # exact digital silence, then noise
        x = np.zeros(n)
        x[n // 2:] = rng.normal(0, 2000, n - n // 2)
    else:
        sys.exit(f"unknown kind {a.kind}")
    pcm = torch.from_numpy(np.clip(np.round(x), -32768, 32767).astype(np.int16)).unsqueeze(0)
    torchaudio.save(a.out, pcm, rate, encoding="PCM_S", bits_per_sample=16)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("audio")
    c.add_argument("feats")
    c.add_argument("--mel", type=int, default=23)
    c.add_argument("--ceps", type=int, default=13)
    c.add_argument("--low", type=float, default=20.0)
    c.add_argument("--high", type=float, default=0.0)
    c.add_argument("--tol", type=float, default=1e-3)
    b = sub.add_parser("batch")
    b.add_argument("list")
    b.add_argument("--tol", type=float, default=1e-3)
    s = sub.add_parser("synth")
    s.add_argument("kind")
    s.add_argument("rate", type=int)
    s.add_argument("seconds", type=float)
    s.add_argument("out")
    a = ap.parse_args()
    sys.exit({"compare": compare, "batch": batch, "synth": synth}[a.cmd](a))


if __name__ == "__main__":
    main()
