#!/usr/bin/python3
"""worker.py - make the audio files of one chunk of the corpus plan (see plan.py).

For each job whose output does not exist yet: synthesise (flite, espeak-ng, RHVoice, SVOX Pico;
festival in one batch per chunk and voice) or read the real recording (formats sox cannot read,
such as Ogg/Opus, are first decoded to a temporary WAV with sndfile-convert, i.e. libsndfile),
apply the augmentation with sox and numpy, write a FLAC under a temporary name, rename it into
place, then append its manifest line (and a line `relpath<TAB>seconds` to OUT/done.log) under a
lock. So a manifest only ever lists complete files and a killed run resumes where it stopped.

Augmentation keys (the plan's aug field, key=value;...):
  pad=A,B     silence before/after (s)         speed=S   sox speed (tempo and pitch)
  vtlp=F      sox `speed F tempo 1/F`: pitch and formants times F, same duration
  pitch=C     sox pitch shift in cents         reverb=R,HF,ROOM  sox reverb
  noise=T,SNR additive white|pink|brown|hum noise at SNR dB over the speech frames
  tel=1       telephone band: 300-3400 Hz, 8 kHz, mu-law round trip (8 kHz FLAC out)
  gain=G      peak level in dBFS
RHVoice and Pico run from the tree voices.sh unpacked (--tts, default $ASRD_TTS or data/tts); see
voices.sh for why they run in TTS/run with TTS/lib first on LD_LIBRARY_PATH.
Usage: worker.py --out DIR [--tts DIR] CHUNK.tsv...
"""
import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

RATE = 16000
# What sox reads here (libsox-fmt-all); anything else goes through libsndfile first.
SOX_READS = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".au", ".raw")
TTS = os.environ.get("ASRD_TTS") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                "..", "..", os.environ.get("ASRD_DATA", "data"), "tts")


def parse(s):
    return dict(kv.split("=", 1) for kv in s.split(";") if "=" in kv)


def run(cmd, data=None, cwd=None, env=None):
    r = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                       env=env)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd[:3]), r.stderr.decode(errors="replace")[-300:]))
    return r.stdout


def scm_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_batch(jobs, tmp):
    """Synthesise all festival jobs of a chunk with one festival process per voice (start-up
    costs ~0.5 s of CPU, as much as 4 s of speech). Returns {id: wav path} of those made."""
    made = {}
    by_voice = {}
    for j in jobs:
        by_voice.setdefault(j["voice"], []).append(j)
    for voice, js in sorted(by_voice.items()):
        lines = ["(voice_%s)" % voice,
                 "(set! default_lr (if (boundp 'int_lr_params) int_lr_params nil))"]
        for j in js:
            p = parse(j["params"])
            wav = os.path.join(tmp, j["id"] + ".wav")
            if "f0" in p:
                lines.append("(set! int_lr_params (list (list 'target_f0_mean %s) "
                             "(list 'target_f0_std %s) (list 'model_f0_mean 170) "
                             "(list 'model_f0_std 34)))" % (p["f0"], p["f0std"]))
            else:
                lines.append("(set! int_lr_params default_lr)")
            lines.append("(Parameter.set 'Duration_Stretch %s)" % p.get("stretch", "1.0"))
            lines.append("(utt.save.wave (utt.synth (Utterance Text %s)) %s 'riff)" % (
                scm_str(j["source"]), scm_str(wav)))
        scm = os.path.join(tmp, "batch-%s.scm" % voice)
        with open(scm, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["festival", "--batch", scm], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        for j in js:
            wav = os.path.join(tmp, j["id"] + ".wav")
            if os.path.exists(wav) and os.path.getsize(wav) > 44:
                made[j["id"]] = wav
    return made


def synth(job, tmp):
    p = parse(job["params"])
    wav = os.path.join(tmp, job["id"] + ".wav")
    if job["engine"] == "flite":
        cmd = ["flite", "-voice", job["voice"], "--setf", "duration_stretch=%s" % p["stretch"]]
        if "f0" in p:
            cmd += ["--setf", "int_f0_target_mean=%s" % p["f0"],
                    "--setf", "int_f0_target_stddev=%s" % p["f0std"]]
        run(cmd + ["-t", job["source"], "-o", wav])
    elif job["engine"] in ("rhvoice", "pico"):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.path.join(TTS, "lib") + ":" + os.path.join(
            TTS, "root", "usr", "lib", "x86_64-linux-gnu")
        rundir = os.path.join(TTS, "run")
        if job["engine"] == "rhvoice":
            run([os.path.join(TTS, "root", "usr", "bin", "RHVoice-test"), "-p", job["voice"],
                 "-r", p["rate"], "-t", p["pitch"], "-o", wav],
                (job["source"] + "\n").encode(), cwd=rundir, env=env)
        else:  # texts are a-z, apostrophe and spaces: nothing to escape in the markup
            text = "<speed level='%s'><pitch level='%s'>%s</pitch></speed>" % (
                p["rate"], p["pitch"], job["source"])
            run([os.path.join(TTS, "lib", "pico2wave"), "-l", job["voice"], "-w", wav, text],
                cwd=rundir, env=env)
    elif job["engine"] == "espeak":
        run(["espeak-ng", "-v", job["voice"], "-s", p["s"], "-p", p["p"], "-g", p["g"],
             "-w", wav, job["source"]])
    else:
        raise RuntimeError("unknown engine " + job["engine"])
    return wav


def make_noise(kind, n, rng):
    w = rng.standard_normal(n)
    if kind == "white":
        return w
    if kind in ("pink", "brown"):
        spec = np.fft.rfft(w)
        f = np.arange(len(spec), dtype=float)
        f[0] = 1.0
        spec /= np.sqrt(f) if kind == "pink" else f
        spec[0] = 0.0
        return np.fft.irfft(spec, n)
    # hum: mains 50 or 60 Hz with harmonics, plus a little hiss
    t = np.arange(n) / RATE
    base = rng.choice([50.0, 60.0])
    h = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3))
            for k in range(1, 8))
    return h + 0.05 * w


def add_noise(x, kind, snr, rng):
    """Noise scaled so that speech power (frames within 30 dB of the loudest) / noise power = SNR."""
    frame = 400
    m = len(x) // frame
    if m == 0:
        return x
    e = (x[:m * frame].reshape(m, frame) ** 2).mean(axis=1)
    active = e[e > e.max() * 1e-3]
    ps = active.mean() if len(active) else e.mean()
    noise = make_noise(kind, len(x), rng)
    pn = (noise ** 2).mean()
    if ps <= 0 or pn <= 0:
        return x
    return x + noise * np.sqrt(ps / (pn * 10 ** (snr / 10)))


def decode(src, tmp, name):
    """A file sox cannot read (Ogg/Opus: sox here has no opus format) -> float WAV via
    libsndfile (sndfile-convert), at the file's own rate. Returns the path sox should read."""
    if src.lower().endswith(SOX_READS):
        return src
    wav = os.path.join(tmp, name + ".src.wav")
    run(["sndfile-convert", "-float32", src, wav])
    return wav


def process(job, src, out_tmp):
    """src (any format sox reads) -> augmented FLAC at out_tmp. Returns duration in seconds."""
    a = parse(job["aug"])
    fx = []
    if "pad" in a:
        b, e = a["pad"].split(",")
        fx += ["pad", b, e]
    if "speed" in a:
        fx += ["speed", a["speed"]]
    if "vtlp" in a:
        fx += ["speed", a["vtlp"], "tempo", "-s", "%.4f" % (1 / float(a["vtlp"]))]
    if "pitch" in a:
        fx += ["pitch", a["pitch"]]
    if "reverb" in a:
        fx += ["reverb"] + a["reverb"].split(",")
    data = run(["sox", "-V1", src, "-t", "wav", "-r", str(RATE), "-c", "1", "-e", "floating-point",
                "-b", "32", "-"] + fx + ["rate", "-h", str(RATE)])
    x = _wav_float(data)
    rng = np.random.default_rng(_seed(job["id"]))
    if "noise" in a:
        kind, snr = a["noise"].split(",")
        x = add_noise(x, kind, float(snr), rng)
    peak = np.abs(x).max() if len(x) else 0.0
    if peak > 0:
        x = x * (10 ** (float(a.get("gain", -3)) / 20) / peak)
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tobytes()
    raw = ["-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-"]
    if a.get("tel"):
        ulaw = run(["sox", "-V1"] + raw + ["-t", "wav", "-r", "8000", "-e", "mu-law", "-",
                                           "sinc", "300-3400"], pcm)
        run(["sox", "-V1", "-t", "wav", "-", "-b", "16", "-t", "flac", out_tmp], ulaw)
        return len(x) / RATE
    run(["sox", "-V1"] + raw + ["-t", "flac", out_tmp], pcm)
    return len(x) / RATE


def _seed(s):
    # Python's hash() is salted per process; this is not.
    h = 0
    for c in s.encode():
        h = (h * 131 + c) % (2 ** 32)
    return h


def _wav_float(data):
    """Parse sox's 32-bit float WAV output (sox writes WAVE_FORMAT_EXTENSIBLE, which the
    wave module refuses) by finding the data chunk."""
    i = 12
    while i + 8 <= len(data):
        cid, size = data[i:i + 4], int.from_bytes(data[i + 4:i + 8], "little")
        if cid == b"data":
            body = data[i + 8:i + 8 + size] if size and size != 0xFFFFFFFF else data[i + 8:]
            return np.frombuffer(body[:len(body) // 4 * 4], dtype="<f4").astype(np.float64)
        i += 8 + size + (size & 1)
    raise RuntimeError("no data chunk in sox output")


def append_locked(path, line):
    with open(path, "a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(line)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)


FIELDS = ["id", "manifest", "rel", "engine", "voice", "params", "aug", "source", "text"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--tts", help="the tree voices.sh made (default $ASRD_TTS or data/tts)")
    ap.add_argument("chunks", nargs="+")
    args = ap.parse_args()
    global TTS
    if args.tts:
        TTS = args.tts
    TTS = os.path.abspath(TTS)
    for chunk in args.chunks:
        with open(chunk, encoding="utf-8") as f:
            jobs = [dict(zip(FIELDS, l.rstrip("\n").split("\t"))) for l in f if l.strip()]
        todo = [j for j in jobs if not os.path.exists(os.path.join(args.out, j["rel"]))]
        if not todo:
            continue
        tmp = tempfile.mkdtemp(prefix="asrd-corpus-")
        try:
            fest = festival_batch([j for j in todo if j["engine"] == "festival"], tmp)
            for j in todo:
                final = os.path.join(args.out, j["rel"])
                try:
                    if j["engine"] == "real":
                        src = decode(j["source"], tmp, j["id"])
                    elif j["engine"] == "festival":
                        src = fest.get(j["id"])
                        if src is None:
                            raise RuntimeError("festival made no audio")
                    else:
                        src = synth(j, tmp)
                    os.makedirs(os.path.dirname(final), exist_ok=True)
                    part = final + ".part"
                    dur = process(j, src, part)
                    words = len(j["text"].split())
                    if j["engine"] != "real" and not (0.1 * words <= dur <= 1.2 * words + 4):
                        os.remove(part)
                        raise RuntimeError("implausible duration %.2f s for %d words" % (dur, words))
                    os.replace(part, final)
                    append_locked(os.path.join(args.out, j["manifest"] + ".tsv"),
                                  "%s\t%s\n" % (j["rel"], j["text"]))
                    append_locked(os.path.join(args.out, "done.log"),
                                  "%s\t%.3f\n" % (j["rel"], dur))
                except Exception as e:  # one bad sentence must not stop the chunk
                    append_locked(os.path.join(args.out, "failed.log"),
                                  "%s\t%s\n" % (j["id"], str(e).replace("\n", " ")))
                finally:
                    for w in (j["id"] + ".wav", j["id"] + ".src.wav"):
                        w = os.path.join(tmp, w)
                        if os.path.exists(w):
                            os.remove(w)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
