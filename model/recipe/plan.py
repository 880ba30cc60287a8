#!/usr/bin/python3
"""plan.py - the job list of the training corpus.

Every output file of `make corpus` is one job: a line of OUT/plan/jobs.tsv with the fields
  id  manifest  relpath  engine  voice  params  aug  source  text
where manifest is "synth" or "real-aug", relpath is relative to OUT (where the manifests live),
engine is flite|festival|espeak|rhvoice|pico|real, params holds the engine settings
(key=value;...), aug the sox augmentation (see worker.py), source the text to speak (or the real
recording's path), text the transcript written to the manifest.

Job n's content depends only on (seed, n), never on --hours: a larger budget extends the plan and
every file already made stays valid. Jobs are written in the order they are made, which is also
the order of priority: voices, augmentations and real copies are interleaved so that any prefix of
the plan is a representative slice. The plan is split into chunk files of --chunk jobs for xargs.

Usage: plan.py --out DIR --hours H [--seed N] [--real-copies 2] [--chunk 40]
"""
import argparse
import glob
import math
import os
import random
import sys

# Natural-sounding voices carry most of the hours (weights are shares of the synthetic budget).
# flite and festival voices are male; female-like speakers are made from them by raising f0 in the
# engine and the formants by vocal-tract warping (see speaker()). RHVoice bdl (male, f0 ~120 Hz)
# and clb (female, ~178 Hz) and SVOX Pico en-US, en-GB (female, ~166/176 Hz) are the most
# intelligible engines here; they get speaker variation from their own rate and pitch controls
# plus warping (see speaker_rel()). Their tools come from voices.sh (data/tts).
NATURAL = [
    ("rhvoice", "bdl", 0.14), ("rhvoice", "clb", 0.14), ("pico", "en-US", 0.08),
    ("pico", "en-GB", 0.08), ("flite", "awb", 0.09), ("flite", "rms", 0.09),
    ("flite", "kal16", 0.06), ("festival", "ked_diphone", 0.06),
    ("festival", "kal_diphone", 0.04), ("flite", "kal", 0.02),
]
# Median f0 (Hz) and sex of the relative-control voices, measured on their default output.
REL_VOICES = {("rhvoice", "bdl"): (120.0, "m"), ("rhvoice", "clb"): (178.0, "f"),
              ("pico", "en-US"): (166.0, "f"), ("pico", "en-GB"): (176.0, "f")}
ESPEAK_SHARE = 0.20
ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
# Human-like variants of espeak-ng-data/voices/!v (robotic and novelty ones left out).
ESPEAK_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "klatt6", "adam", "Andy", "anika",
                   "announcer", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed",
                   "edward", "grandma", "grandpa", "iven", "john", "linda", "max", "michel",
                   "norbert", "paul", "quincy", "rob", "robert", "shelby", "steph", "travis",
                   "victor", "Alicia", "Mike", "Lee"]
# Reserved for evaluation: refuse to plan them whatever the tables above say.
FORBIDDEN = ("slt",)
NOISES = ["white", "pink", "pink", "brown", "hum"]
CHARS_PER_SEC = 16.4  # calibrated on a full run: 28 h estimated at 15.0 gave 25.6 h of audio


def fmt(d):
    return ";".join("%s=%s" % (k, v) for k, v in d.items())


def augment(rng, p_speed, p_noise, p_reverb, p_tel):
    """Sox/numpy augmentation settings; returns (dict, duration factor)."""
    a, factor = {}, 1.0
    if rng.random() < p_speed:
        s = round(rng.uniform(0.9, 1.1), 3)
        a["speed"] = s
        factor /= s
    if rng.random() < p_reverb:
        a["reverb"] = "%d,%d,%d" % (rng.randint(20, 80), rng.randint(20, 80), rng.randint(20, 100))
    if rng.random() < p_noise:
        a["noise"] = "%s,%.1f" % (rng.choice(NOISES), rng.uniform(5, 30))
    if rng.random() < p_tel:
        a["tel"] = 1
    a["gain"] = round(rng.uniform(-20, -1), 1)  # peak level in dBFS
    if rng.random() < 0.3:
        a["pad"] = "%.2f,%.2f" % (rng.uniform(0, 0.5), rng.uniform(0, 0.5))
    return a, factor


def speaker(rng, engine, voice):
    """Engine params and speaker-changing sox effects for a natural voice.

    Three kinds of speaker, a third each: the voice as it is (f0 and rate varied mildly),
    female-like (f0 160-250 Hz, formants raised 8-20% by warping), another male (f0 75-150 Hz,
    formants 0.9-1.06). Warping is `speed F tempo 1/F`: it scales pitch and formants by F and
    keeps the duration, so the engine's f0 target is divided by F.
    """
    p, a = {}, {}
    stretch = round(rng.uniform(0.85, 1.2), 3)
    p["stretch"] = stretch
    kind = rng.randrange(3)
    if kind == 0:
        return p, a, stretch
    if kind == 1:
        f0, warp = rng.uniform(160, 250), rng.uniform(1.08, 1.2)
    else:
        f0, warp = rng.uniform(75, 150), rng.uniform(0.9, 1.06)
    a["vtlp"] = round(warp, 3)
    if engine == "flite" and voice == "rms":
        # rms ignores int_f0_target_mean (measured): shift its ~100 Hz f0 with sox pitch.
        # Capped at 7 semitones: larger WSOLA shifts sound broken.
        a["pitch"] = max(-500, min(700, int(1200 * math.log2(f0 / warp / 100.0))))
    else:
        p["f0"] = int(f0 / warp)
        p["f0std"] = int(f0 / warp * rng.uniform(0.12, 0.25))
    return p, a, stretch


def speaker_rel(rng, engine, voice):
    """Speaker variation for engines with relative rate and pitch controls (RHVoice -r/-t in %,
    Pico <speed level>/<pitch level> in %; both scale duration by 100/rate and f0 by pitch/100).

    A third each: the voice as it is (rate and f0 varied mildly), the other sex (female-like:
    f0 160-250 Hz, formants x1.08-1.2; male-like: f0 85-140 Hz, formants x0.85-0.94), another
    speaker of the same sex (f0 and formants moved moderately). Warping as in speaker().
    """
    base, sex = REL_VOICES[(engine, voice)]
    p, a = {}, {}
    rate = rng.randint(80, 125)
    p["rate"] = rate
    kind = rng.randrange(3)
    if kind == 0:
        p["pitch"] = rng.randint(90, 112)
        return p, a, 100.0 / rate
    if (kind == 1) == (sex == "m"):  # female-like
        f0 = rng.uniform(160, 250)
        warp = rng.uniform(1.08, 1.2) if sex == "m" else rng.uniform(0.96, 1.1)
    else:  # male-like
        f0 = rng.uniform(85, 140)
        warp = rng.uniform(0.85, 0.94) if sex == "f" else rng.uniform(0.92, 1.06)
    a["vtlp"] = round(warp, 3)
    p["pitch"] = max(50, min(200, int(round(100 * f0 / warp / base))))
    return p, a, 100.0 / rate


def synth_job(seed, n, pool):
    rng = random.Random("%d:synth:%d" % (seed, n))
    src, speak, text = pool[n % len(pool)]
    r = rng.random()
    if r < ESPEAK_SHARE:
        accent = rng.choice(ESPEAK_ACCENTS)
        variant = rng.choice(ESPEAK_VARIANTS)
        engine, voice = "espeak", accent + ("+" + variant if variant else "")
        wpm = rng.randint(130, 210)
        p = {"s": wpm, "p": rng.randint(20, 80), "g": rng.randint(0, 3)}
        sp, factor = {}, 175.0 / wpm
    else:
        r = (r - ESPEAK_SHARE) / (1 - ESPEAK_SHARE) * sum(w for _, _, w in NATURAL)
        for engine, voice, w in NATURAL:
            if r < w:
                break
            r -= w
        if (engine, voice) in REL_VOICES:
            p, sp, factor = speaker_rel(rng, engine, voice)
        else:
            p, sp, factor = speaker(rng, engine, voice)
    if any(f in voice for f in FORBIDDEN):
        sys.exit("plan.py: voice %s is reserved for evaluation" % voice)
    # Half the synthetic speech stays clean: the engines are the clean-speech source.
    if rng.random() < 0.5:
        aug, f2 = augment(rng, 0.6, 0.6, 0.35, 0.15)
    else:
        aug, f2 = {"gain": round(rng.uniform(-12, -1), 1)}, 1.0
    if engine == "flite" and voice == "kal":
        aug.pop("tel", None)  # already 8 kHz
    aug.update(sp)
    est = (len(speak) / CHARS_PER_SEC + 0.3) * factor * f2
    name = voice.replace("+", "_")
    rel = "synth/%s-%s/%03d/s%07d.flac" % (engine, name, n // 1000, n)
    return ["s%07d" % n, "synth", rel, engine, voice, fmt(p), fmt(aug), speak, text], est


def real_jobs(seed, shared, copies):
    """Augmented copies of every training recording; train.tsv only, never the dev sets."""
    jobs = []
    for tsv in sorted(glob.glob(os.path.join(shared, "corpus", "*", "train.tsv"))):
        corpus = os.path.basename(os.path.dirname(tsv))
        with open(tsv, encoding="utf-8") as f:
            rows = [l.rstrip("\n").split("\t", 1) for l in f if l.strip()]
        for c in range(1, copies + 1):
            for path, text in rows:
                key = "%d:real:%s:%d:%s" % (seed, corpus, c, path)
                rng = random.Random(key)
                aug, _ = augment(rng, 0.7, 0.6, 0.3, 0.2)
                if rng.random() < 0.6:
                    if rng.random() < 0.5:
                        aug["vtlp"] = round(rng.uniform(0.88, 1.12), 3)
                    else:
                        aug["pitch"] = rng.randint(-300, 300)
                if "speed" not in aug and "vtlp" not in aug and "pitch" not in aug:
                    aug["speed"] = round(rng.choice([rng.uniform(0.9, 0.97), rng.uniform(1.03, 1.1)]), 3)
                base = os.path.splitext(path)[0].replace("/", "_")
                rel = "real-aug/%s/c%d/%s.flac" % (corpus, c, base)
                src = os.path.abspath(os.path.join(os.path.dirname(tsv), path))
                jid = "r-%s-%d-%s" % (corpus, c, base)
                jobs.append([jid, "real-aug", rel, "real", corpus, "-", fmt(aug), src, text])
    return jobs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--real-copies", type=int, default=2)
    ap.add_argument("--max-real", type=int, default=0, help="limit real jobs (tests)")
    ap.add_argument("--max-synth", type=int, default=0, help="limit synthetic jobs (tests)")
    ap.add_argument("--max-jobs", type=int, default=0,
                    help="keep only the first N jobs of the interleaved plan (a representative slice)")
    ap.add_argument("--chunk", type=int, default=40)
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "../../../shared"))
    args = ap.parse_args()

    with open(os.path.join(args.out, "text", "train.tsv"), encoding="ascii") as f:
        pool = [l.rstrip("\n").split("\t") for l in f]
    synth, total = [], 0.0
    while total < args.hours * 3600 and not 0 < args.max_synth <= len(synth):
        job, est = synth_job(args.seed, len(synth), pool)
        synth.append(job)
        total += est
    real = real_jobs(args.seed, args.shared, args.real_copies)
    if 0 < args.max_real < len(real):  # evenly spaced, so that every corpus is represented
        real = [real[i * len(real) // args.max_real] for i in range(args.max_real)]

    # Interleave: real copy jobs spread evenly through the synthetic ones.
    jobs, step = [], (len(synth) + 1) / (len(real) + 1)
    ri = 0
    for i, job in enumerate(synth):
        while ri < len(real) and (ri + 1) * step <= i + 1:
            jobs.append(real[ri])
            ri += 1
        jobs.append(job)
    jobs.extend(real[ri:])
    if 0 < args.max_jobs < len(jobs):
        jobs = jobs[:args.max_jobs]

    pdir = os.path.join(args.out, "plan")
    os.makedirs(pdir, exist_ok=True)
    for old in glob.glob(os.path.join(pdir, "chunk-*.tsv")):
        os.remove(old)
    tmp = os.path.join(pdir, "jobs.tsv.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for job in jobs:
            f.write("\t".join(str(x) for x in job) + "\n")
    os.replace(tmp, os.path.join(pdir, "jobs.tsv"))
    for c in range(0, len(jobs), args.chunk):
        with open(os.path.join(pdir, "chunk-%06d.tsv" % (c // args.chunk)), "w",
                  encoding="utf-8") as f:
            for job in jobs[c:c + args.chunk]:
                f.write("\t".join(str(x) for x in job) + "\n")
    print("plan: %d synthetic jobs (~%.1f h estimated), %d real-aug jobs, %d chunks" % (
        len(synth), total / 3600, len(real), (len(jobs) + args.chunk - 1) // args.chunk),
        file=sys.stderr)


if __name__ == "__main__":
    main()
