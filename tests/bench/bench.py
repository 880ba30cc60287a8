#!/usr/bin/python3
"""asrd benchmark driver: speed, memory and accuracy of asrd beside Debian's pocketsphinx.

Run through tests/bench/run.sh (`make bench`), which builds the helper programs first. See
tests/bench/README.md for what is measured and how. Everything timed is a whole process run under
build/tests/bench/measure (fork + wait4: user+sys CPU, wall, peak RSS of the child alone).

Outputs: a table on stdout and the same figures, one per line, in build/bench/results.tsv
(set, system, metric, value, unit, target).
"""
import argparse
import glob
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
HELPERS = os.path.join(BUILD, "tests", "bench")
ASRD = os.path.join(BUILD, "asrd")
MKMODEL = os.path.join(BUILD, "tests", "tool_mkmodel")
SHIPPED_MODEL = os.path.join(ROOT, "model", "asrd-en.model")
CORPUS = os.path.join(os.environ.get("ASRD_SHARED") or os.path.normpath(os.path.join(ROOT, "..", "shared")), "corpus")
PS_MODEL = "/usr/share/pocketsphinx/model/en-us"
PS_DEBIAN_LM = os.path.join(PS_MODEL, "en-us.lm.bin")
SHIPPED_CONFIG = os.path.join(ROOT, "configs", "asrd.yaml")
# The dev sets of ../shared/corpus, in table order (each skipped with a message when absent).
CORPUS_SETS = ("librispeech", "speechocean", "speechcommands", "cathy", "fsdd")
FORTUNES = "/usr/share/games/fortunes/fortunes"
SCLITE = shutil.which("sclite") or "/usr/lib/sctk/bin/sclite"
RATE = 16000
# Native-rate sets: the same speech (NATIVE_SOURCE's dev set) as files at these rates, which asrd
# reads and resamples itself (timed) and pocketsphinx gets through the sox conversion to 16 kHz it
# needs (timed too, in its CPU). Selector "native" in --sets: all of them.
NATIVE_SOURCE = "cathy"
NATIVE_RATES = ((8000, "8k"), (16000, "16k"), (22050, "22.05k"), (44100, "44.1k"), (48000, "48k"))
NATIVE_SETS = tuple("native-" + tag for _, tag in NATIVE_RATES)
# Issue 13: resampling <= 10% of asrd's CPU at 44.1 kHz; greedy >= 100x pocketsphinx on every set.
TARGET_RESAMPLE_FRACTION = 10.0  # %
TARGET_RESAMPLE_SET = "native-44.1k"
TARGET_GREEDY_SPEEDUP = 100.0

# Targets from issue 3 (benchmarks, not tests): one thread, default model size (3 GRU x 320).
TARGET_RTF = 0.005
TARGET_LOAD_MS = 50.0
TARGET_RSS_MB = 20.0
# Targets from issue 6: the beam decoder with the word LM, shipped acoustic model and default
# decoder parameters.
TARGET_BEAM_WER_REDUCTION = 30.0  # % relative to greedy, on cathy/dev
TARGET_BEAM_WER_SET = "cathy"
TARGET_BEAM_SPEEDUP = 100.0  # pocketsphinx CPU / asrd-beam CPU, on every set (issue 13 point 3; issue 6 asked 50)
# Targets from issue 11 (asrd-beam, the shipped decoder, on dev): fewer word errors than pocketsphinx
# with its best LM on these sets, and WER ceilings.
TARGET_BEAT_PS_SETS = ("librispeech", "speechocean", "cathy")
TARGET_WER_MAX = (("librispeech", 20.0), ("speechcommands", 3.0), ("fsdd", 3.0))

# Systems in table order. The TSV keeps the name "asrd" for the greedy decoder (as before the beam
# row existed); the table calls it asrd-greedy.
SYSTEMS = ("asrd", "asrd-beam", "pocketsphinx")
LABEL = {"asrd": "asrd-greedy"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- measuring
def measure(cmd, stdout_path, tmp, env=None):
    """Runs cmd under the measure helper; returns dict(exit, cpu_s, wall_s, maxrss_kb, ...)."""
    stats = os.path.join(tmp, "measure.txt")
    with open(stdout_path, "w") as out, open(stdout_path + ".err", "w") as err:
        subprocess.run([os.path.join(HELPERS, "measure"), "-o", stats, "--"] + cmd, stdout=out,
                       stderr=err, env=env, check=False)
    with open(stats) as f:
        fields = dict(kv.split("=", 1) for kv in f.read().split())
    res = {k: (int(v) if k in ("exit", "maxrss_kb") else float(v)) for k, v in fields.items()}
    return res


def rss_split(cmd, stdout_path, env=None, period=0.002):
    """Runs cmd (untimed) and samples /proc/PID/status every `period` s; returns the largest
    RssAnon and RssFile seen, in MB (private memory vs file-backed pages such as a mapped LM), or
    None. Sampled, so a short-lived peak can be missed; ru_maxrss from measure() is the exact peak."""
    peak = {"RssAnon": 0, "RssFile": 0}
    with open(stdout_path, "w") as out, open(stdout_path + ".err", "w") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        status = "/proc/%d/status" % p.pid
        while p.poll() is None:
            try:
                with open(status) as f:
                    for line in f:
                        k, _, v = line.partition(":")
                        if k in peak:
                            peak[k] = max(peak[k], int(v.split()[0]))
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(period)
    if p.returncode != 0 or not peak["RssFile"]:
        return None
    return {k: v / 1024.0 for k, v in peak.items()}


def median_runs(runs):
    return {k: statistics.median(r[k] for r in runs) for k in ("cpu_s", "wall_s", "maxrss_kb")}


def stderr_tail(path, n=5):
    try:
        with open(path + ".err") as f:
            lines = [l.rstrip() for l in f if l.strip()]
        return " | ".join(lines[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- scoring
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen " \
       "fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell(n):
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell(n % 100))
    if n < 1000000:
        return spell(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + spell(n % 1000))
    return " ".join(ONES[int(d)] for d in str(n))


def py_normalize(text):
    """Fallback normaliser (used only if the C scorer cannot be built): lowercase a-z, apostrophe,
    single spaces, integers spelled out, a few abbreviations."""
    t = text.lower()
    for a, b in (("mr.", "mister"), ("mrs.", "missus"), ("dr.", "doctor"), ("st.", "saint"),
                 ("etc.", "et cetera"), ("&", " and ")):
        t = t.replace(a, b)
    t = re.sub(r"\d+", lambda m: " " + spell(int(m.group())) + " ", t)
    t = re.sub(r"[^a-z' ]+", " ", t)
    t = re.sub(r"(^| )'+|'+( |$)", " ", t)
    return " ".join(t.split())


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def score(pairs, tmp):
    """pairs: list of (reference, hypothesis). Returns dict with word/char edits and lengths, the
    scorer used, and normalised pairs. Prefers the C scorer (asrd's own normaliser and edit
    distance, so pocketsphinx and asrd are scored exactly as `asrd --score` scores)."""
    scorer = os.path.join(HELPERS, "score")
    norm = []
    if os.access(scorer, os.X_OK):
        inp = "".join("%s\t%s\n" % (r.replace("\t", " ").replace("\n", " "),
                                    h.replace("\t", " ").replace("\n", " ")) for r, h in pairs)
        p = subprocess.run([scorer], input=inp, capture_output=True, text=True, check=False)
        lines = p.stdout.rstrip("\n").split("\n") if p.stdout else []
        if p.returncode == 0 and len(lines) == len(pairs) + 1:
            for l in lines[:-1]:
                f = l.split("\t")
                norm.append((f[0], f[1]))
            tot = lines[-1].split()  # TOTAL we wn ce cn
            res = dict(we=int(tot[1]), wn=int(tot[2]), ce=int(tot[3]), cn=int(tot[4]),
                       scorer="asrd (build/tests/bench/score)")
            res["norm"] = norm
            return res
        log("bench: C scorer failed (%s); using the Python fallback" % p.stderr.strip()[:200])
    we = wn = ce = cn = 0
    for r, h in pairs:
        rn, hn = py_normalize(r), py_normalize(h)
        norm.append((rn, hn))
        we += levenshtein(rn.split(), hn.split())
        wn += len(rn.split())
        ce += levenshtein(rn, hn)
        cn += len(rn)
    return dict(we=we, wn=wn, ce=ce, cn=cn, scorer="python fallback", norm=norm)


def sclite_wer(norm, tmp):
    """Word error rate (%) of normalised pairs by NIST sclite, as an independent check; None if
    sclite is missing or fails."""
    if not os.access(SCLITE, os.X_OK) or not norm:
        return None
    ref, hyp = os.path.join(tmp, "ref.trn"), os.path.join(tmp, "hyp.trn")
    with open(ref, "w") as fr, open(hyp, "w") as fh:
        for i, (r, h) in enumerate(norm):
            fr.write("%s (spk_%04d)\n" % (r, i))
            fh.write("%s (spk_%04d)\n" % (h, i))
    p = subprocess.run([SCLITE, "-r", ref, "trn", "-h", hyp, "trn", "-i", "rm", "-o", "sum", "stdout"],
                       capture_output=True, text=True, check=False)
    # the summary line: | Sum/Avg | #snt #wrd | corr sub del ins err s.err |
    for line in p.stdout.splitlines():
        if "Sum/Avg" in line:
            nums = re.findall(r"[\d.]+", line)
            if len(nums) >= 8:
                return float(nums[6])
    return None


# ---------------------------------------------------------------- data sets
def wav_info(path):
    with wave.open(path) as w:
        return w.getnframes(), w.getframerate()


def sox_convert(src, dst_wav, dst_raw):
    """16 kHz 16-bit mono WAV (for asrd) and headerless raw (for pocketsphinx_batch -adcin).
    sox here cannot read Ogg/Opus (the librispeech, speechocean and speechcommands sets): those are
    decoded by libsndfile (sndfile-convert, package sndfile-programs) to 16-bit WAV first."""
    if src.lower().endswith(".opus"):
        pcm = dst_wav + ".pcm.wav"
        subprocess.run(["sndfile-convert", "-pcm16", src, pcm], check=True, stdout=subprocess.DEVNULL)
        src = pcm
    subprocess.run(["sox", "-q", src, "-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed-integer",
                    dst_wav], check=True)
    if src == dst_wav + ".pcm.wav":
        os.remove(src)
    subprocess.run(["sox", "-q", dst_wav, "-t", "raw", dst_raw], check=True)


def pick_sentences(n, seed=3):
    """n short, plain, one-line sentences from the fortunes file (fixed seed: same set every run)."""
    with open(FORTUNES, encoding="latin-1") as f:
        entries = f.read().split("\n%\n")
    good = []
    for e in entries:
        t = " ".join(e.split())
        words = t.split()
        if 5 <= len(words) <= 16 and re.fullmatch(r"[A-Za-z][A-Za-z ,.;'!?-]*", t) \
                and t.count(".") <= 2 and not t.isupper():
            good.append(t)
    rng = random.Random(seed)
    return rng.sample(sorted(set(good)), n)


ESPEAK_VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3"]
FLITE_VOICES = ["kal16", "awb", "rms", "kal"]  # never slt: it is reserved for evaluation


def make_synth(d, n):
    """Synthesises n sentences (half espeak-ng, half flite) into d; returns list of (src, ref)."""
    items = []
    for i, text in enumerate(pick_sentences(n)):
        out = os.path.join(d, "synth_%02d.src.wav" % i)
        if i % 2 == 0:
            voice = ESPEAK_VOICES[(i // 2) % len(ESPEAK_VOICES)]
            subprocess.run(["espeak-ng", "-v", voice, "-w", out, text], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            voice = FLITE_VOICES[(i // 2) % len(FLITE_VOICES)]
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", out], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        items.append((out, text))
    return items


def read_manifest(path):
    base = os.path.dirname(path)
    items = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            p, _, ref = line.partition("\t")
            items.append((os.path.join(base, p), ref))
    return items


def write_lists(d, utts):
    """The set's asrd manifest (manifest.tsv) and pocketsphinx control file (ctl) in d."""
    with open(os.path.join(d, "manifest.tsv"), "w") as f:
        for u in utts:
            f.write("wav/%s.wav\t%s\n" % (u["id"], u["ref"]))
    with open(os.path.join(d, "ctl"), "w") as f:
        for u in utts:
            f.write(u["id"] + "\n")


def prepare_set(name, items, tmp, native_rate=None):
    """Converts every file to 16 kHz mono 16-bit (WAV + raw), outside the timed part, and writes
    an asrd manifest and a pocketsphinx control file. Both systems read the same samples.
    native_rate: instead, the files as 16-bit mono WAV at that rate (sox -D: no dither, so every
    rate carries the same speech), the files a user has: asrd reads them as they are, and
    pocketsphinx's raw 16 kHz copies are made in its timed run (run_pocketsphinx)."""
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "raw"), exist_ok=True)
    os.makedirs(os.path.join(d, "wav"), exist_ok=True)
    utts = []
    for i, (src, ref) in enumerate(items):
        uid = "%s_%04d" % (name, i)
        wav = os.path.join(d, "wav", uid + ".wav")
        if native_rate:
            subprocess.run(["sox", "-q", "-D", src, "-r", str(native_rate), "-b", "16", "-c", "1", "-e",
                            "signed-integer", wav], check=True)
        else:
            sox_convert(src, wav, os.path.join(d, "raw", uid + ".raw"))
        n, rate = wav_info(wav)
        # samples: at 16 kHz, as asrd's frontend sees them (output_frames counts frames from it)
        utts.append(dict(id=uid, wav=wav, ref=ref, samples=int(round(n * RATE / rate)), seconds=n / rate))
    write_lists(d, utts)
    return dict(name=name, dir=d, utts=utts, seconds=sum(u["seconds"] for u in utts), rate=native_rate)


def sox_script(s):
    """A shell script converting the set's WAV files to pocketsphinx's 16 kHz raw input the way a
    user would (sox's default rate quality, with its dither)."""
    lines = ["set -e"]
    for u in s["utts"]:
        lines.append("sox -q '%s' -r %d -b 16 -c 1 -e signed-integer -t raw '%s'"
                     % (u["wav"], RATE, os.path.join(s["dir"], "raw", u["id"] + ".raw")))
    return "\n".join(lines) + "\n"


def perf_fraction(cmd, tmp, env, dso="libsoxr"):
    """Share (%) of the samples perf attributes to shared objects whose name contains `dso` while
    cmd runs (perf record -F 10000, user and kernel), or (None, reason)."""
    if not shutil.which("perf"):
        return None, "no perf"
    data = os.path.join(tmp, "perf.data")
    p = subprocess.run(["perf", "record", "-q", "-F", "10000", "-o", data, "--"] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, env=env, check=False)
    if p.returncode != 0:
        return None, "perf record failed: %s" % p.stderr.strip()[:200]
    p = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso"],
                       capture_output=True, text=True, check=False)
    total = 0.0
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*([\d.]+)%\s+(\S+)", line)
        if m and dso in m.group(2):
            total += float(m.group(1))
    return (total, "") if p.returncode == 0 else (None, "perf report failed")


# ---------------------------------------------------------------- systems
def find_lm():
    """The word LM for the asrd-beam row: $ASRD_LM if set, else the LM of `--lm default`
    ($ASRD_DATA/lm/cmu-en-us.lmbin, else ROOT/data/lm/cmu-en-us.lmbin). Returns (path or None, the
    paths looked at)."""
    if os.environ.get("ASRD_LM"):
        cands = [os.environ["ASRD_LM"]]
    else:
        cands = [os.path.join(d, "lm", "cmu-en-us.lmbin")
                 for d in (os.environ.get("ASRD_DATA"), os.path.join(ROOT, "data")) if d]
    for c in cands:
        if os.path.exists(c):
            return os.path.abspath(c), cands
    return None, cands


def find_ps_lm():
    """pocketsphinx's trigram: $PS_LM if set, else the upstream CMU en-us LM that `make lm` fetches
    ($ASRD_DATA or ROOT/data, lm/cmu-en-us.lm.bin: pocketsphinx's best LM on the dev sets, model/README.md),
    else Debian's. Returns (path, note)."""
    if os.environ.get("PS_LM"):
        return os.environ["PS_LM"], "$PS_LM"
    for d in (os.environ.get("ASRD_DATA"), os.path.join(ROOT, "data")):
        c = d and os.path.join(d, "lm", "cmu-en-us.lm.bin")
        if c and os.path.exists(c):
            return os.path.abspath(c), "the upstream CMU en-us trigram (make lm)"
    return PS_DEBIAN_LM, ("Debian's en-us trigram: the upstream CMU one (its best, data/lm/cmu-en-us.lm.bin) "
                          "is not fetched, `make lm`")


def run_asrd_cmd(s, model, lm=None):
    return [ASRD, "--batch", "--model", model, "--format", "text", "--manifest",
            os.path.join(s["dir"], "manifest.tsv"), "--score"] + (["--config", SHIPPED_CONFIG, "--lm", lm] if lm else [])


def run_asrd(s, model, repeat, tmp, env, lm=None, tag=None):
    """asrd --batch --manifest --score, `repeat` times; with lm, `--config configs/asrd.yaml --lm LM`:
    the shipped decoder configuration (beam search, its beam and weights; what users get) with that
    LM. Hypotheses come from the last run."""
    out = os.path.join(s["dir"], (tag or ("asrd-beam" if lm else "asrd")) + ".out")
    cmd = run_asrd_cmd(s, model, lm)
    runs = []
    for _ in range(repeat):
        r = measure(cmd, out, tmp, env)
        runs.append(r)
        if r["exit"] != 0:
            break
    res = dict(runs=runs, ok=all(r["exit"] == 0 for r in runs), own_score="")
    if not res["ok"]:
        res["error"] = "asrd exit %d: %s" % (runs[-1]["exit"], stderr_tail(out))
    hyps = {}
    with open(out, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("WER "):
                res["own_score"] = line
            elif "\t" in line:
                p, _, h = line.partition("\t")
                hyps[os.path.basename(p)] = h
    res["hyps"] = [hyps.get(os.path.basename(u["wav"])) for u in s["utts"]]
    return res


def run_pocketsphinx(s, repeat, tmp, env, lm=PS_DEBIAN_LM, tag="ps"):
    """pocketsphinx_batch with Debian's en-us acoustic model and dictionary and the trigram lm,
    default beams, on the set's raw 16 kHz files. A native-rate set (s["rate"]) has no raw files
    yet: each timed run is one shell that converts them with sox, then execs pocketsphinx_batch, so
    the CPU counts both (wait4 reports the shell's waited-for children); res["sox_cpu"] is the
    median CPU of the conversion alone."""
    hyp = os.path.join(s["dir"], tag + ".hyp")
    cmd = ["pocketsphinx_batch", "-adcin", "yes", "-cepdir", os.path.join(s["dir"], "raw"),
           "-cepext", ".raw", "-samprate", str(RATE), "-ctl", os.path.join(s["dir"], "ctl"),
           "-hyp", hyp, "-hmm", os.path.join(PS_MODEL, "en-us"), "-lm", lm,
           "-dict", os.path.join(PS_MODEL, "cmudict-en-us.dict"), "-logfn", "/dev/null"]
    out = os.path.join(s["dir"], tag + ".out")
    sox_cpu = None
    if s.get("rate"):
        script = os.path.join(s["dir"], "sox.sh")
        with open(script, "w") as f:
            f.write(sox_script(s))
        sox_runs = [measure(["sh", script], out, tmp, env) for _ in range(repeat)]
        if any(r["exit"] != 0 for r in sox_runs):
            return dict(runs=sox_runs, ok=False, hyps=[], error="sox conversion failed: %s" % stderr_tail(out))
        sox_cpu = statistics.median(r["cpu_s"] for r in sox_runs)
        cmd = ["sh", "-c", '. "$0"; exec "$@"', script] + cmd
    runs = []
    for _ in range(repeat):
        r = measure(cmd, out, tmp, env)
        runs.append(r)
        if r["exit"] != 0:
            break
    res = dict(runs=runs, ok=all(r["exit"] == 0 for r in runs), sox_cpu=sox_cpu)
    if not res["ok"]:
        res["error"] = "pocketsphinx_batch exit %d: %s" % (runs[-1]["exit"], stderr_tail(out))
    hyps = {}
    if os.path.exists(hyp):
        with open(hyp, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"^(.*?)\s*\((\S+)(?:\s+-?\d+)?\)\s*$", line)
                if m:
                    hyps[m.group(2)] = m.group(1)
    res["hyps"] = [hyps.get(u["id"]) for u in s["utts"]]
    return res


# ---------------------------------------------------------------- model facts
def choose_model(tmp):
    if os.path.exists(SHIPPED_MODEL):
        return SHIPPED_MODEL, "shipped model model/asrd-en.model"
    path = os.path.join(BUILD, "bench", "random-3x320.model")
    if os.access(MKMODEL, os.X_OK):
        p = subprocess.run([MKMODEL, path, "--layers", "3", "--hidden", "320"], capture_output=True,
                           text=True, check=False)
        if p.returncode == 0 and os.path.exists(path):
            return path, ("RANDOM-WEIGHT model, 3 GRU x 320 (model/asrd-en.model not built yet): "
                          "speed and memory are representative, accuracy is meaningless")
        log("bench: tool_mkmodel failed: %s" % (p.stderr.strip()[:300]))
    return None, "no model: model/asrd-en.model missing and build/tests/tool_mkmodel unavailable"


def model_facts(model):
    """Keys from build/tests/bench/model_flops: flops_per_frame, frame_length, frame_shift, stack,
    stride, params, sample_rate (one 'key value' per line)."""
    prog = os.path.join(HELPERS, "model_flops")
    if not model or not os.access(prog, os.X_OK):
        return None
    p = subprocess.run([prog, model], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        log("bench: model_flops failed: %s" % p.stderr.strip()[:300])
        return None
    facts = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(" ")
        try:
            facts[k] = float(v)
        except ValueError:
            facts[k] = v
    return facts


def output_frames(samples, f):
    """Output frames the network computes for one file: MFCC frames (snip-edges) then stacking."""
    L, S = int(f["frame_length"]), int(f["frame_shift"])
    n = (samples - L) // S + 1 if samples >= L else 0
    st, sd = int(f["stack"]), int(f["stride"])
    return (n - st) // sd + 1 if n >= st else 0


def sgemm_peak():
    prog = os.path.join(HELPERS, "sgemm_peak")
    if not os.access(prog, os.X_OK):
        return None, ""
    p = subprocess.run([prog, "512", "1024"], capture_output=True, text=True, check=False)
    vals = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == "sgemm":
            vals[int(f[1])] = float(f[3])
    if not vals:
        return None, ""
    return max(vals.values()), ", ".join("%d^3 %.1f" % kv for kv in sorted(vals.items()))


# ---------------------------------------------------------------- report
class Report:
    def __init__(self):
        self.rows = []

    def add(self, set_, system, metric, value, unit="", target=""):
        self.rows.append((set_, system, metric, value, unit, target))

    def write_tsv(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("set\tsystem\tmetric\tvalue\tunit\ttarget\n")
            for r in self.rows:
                v = r[3]
                if isinstance(v, float):
                    v = "%.6g" % v
                f.write("\t".join(str(x) for x in (r[0], r[1], r[2], v, r[4], r[5])) + "\n")


def fmt(v, spec):
    return "n/a" if v is None else spec % v


def verdict(v, target):
    if v is None:
        return ""
    return "ok" if v <= target else "MISSED"


def verdict_min(v, target):
    if v is None:
        return ""
    return "ok" if v >= target else "MISSED"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")),
                    help="timed runs per system and set; medians are quoted (default 3)")
    ap.add_argument("--sets", default=os.environ.get("BENCH_SETS", ",".join(("synth",) + CORPUS_SETS + ("slt", "native"))),
                    help="comma-separated: synth, %s, slt (the eval-synth set, if built), %s (%s/dev at those "
                    "rates; native: all of them); default all" % (", ".join(CORPUS_SETS), ", ".join(NATIVE_SETS),
                                                                  NATIVE_SOURCE))
    ap.add_argument("--synth-n", type=int, default=20, help="sentences to synthesise")
    ap.add_argument("--ps-repeat", type=int, default=int(os.environ.get("BENCH_PS_REPEAT", "0")) or None,
                    help="timed pocketsphinx runs per set (default: --repeat); pocketsphinx is most of the "
                         "bench's time, and its transcripts do not change between runs")
    ap.add_argument("--no-pocketsphinx", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tsv", default=os.path.join(BUILD, "bench", "results.tsv"))
    a = ap.parse_args()

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    tmp = tempfile.mkdtemp(prefix="asrd-bench.")
    rep = Report()
    try:
        run(a, env, tmp, rep)
    finally:
        if a.keep:
            log("bench: kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    rep.write_tsv(a.tsv)
    print("\nfigures as TSV: %s" % os.path.relpath(a.tsv, ROOT))


def run(a, env, tmp, rep):
    have_asrd = os.access(ASRD, os.X_OK)
    model, model_note = choose_model(tmp) if have_asrd else (None, "build/asrd missing")
    facts = model_facts(model)
    peak, peak_detail = sgemm_peak()

    print("asrd benchmark (%d timed runs each%s, medians; OPENBLAS_NUM_THREADS=1; CPU = user+sys of the "
          "whole process)" % (a.repeat, "" if not a.ps_repeat or a.ps_repeat == a.repeat
                              else ", pocketsphinx %d" % a.ps_repeat))
    print("model: %s%s" % (model_note, "" if not model else " [%s]" % os.path.relpath(model, ROOT)))
    if facts:
        print("       %d parameters, %.2f MFLOP per output frame, %g ms per output frame"
              % (facts.get("params", 0), facts["flops_per_frame"] / 1e6, facts.get("frame_ms", 0)))
    print("sgemm peak, one thread: %s GFLOP/s (%s)" % (fmt(peak, "%.1f"), peak_detail))
    rep.add("-", "asrd", "model", model or "none", "", "")
    rep.add("-", "asrd", "model_note", model_note, "", "")
    if facts:
        rep.add("-", "asrd", "model_params", int(facts.get("params", 0)), "floats", "")
        rep.add("-", "asrd", "model_flops_per_frame", facts["flops_per_frame"], "FLOP", "")
    rep.add("-", "machine", "sgemm_peak_1thread", peak, "GFLOP/s", "")
    lm = None
    if model:
        lm, looked = find_lm()
        if lm:
            print("word LM for asrd-beam: %s (%.0f MB, memory-mapped; the decoder of configs/asrd.yaml)"
                  % (lm, os.path.getsize(lm) / 1048576.0))
            rep.add("-", "asrd-beam", "lm", lm, "", "")
            rep.add("-", "asrd-beam", "lm_file_size", os.path.getsize(lm) / 1048576.0, "MB", "")
        else:
            print("asrd-beam row skipped: no word LM at %s (build it with `make lm`)" % " or ".join(looked))
            rep.add("-", "asrd-beam", "skipped", "no LM at " + " or ".join(looked), "", "")

    ps_lm, ps_note = find_ps_lm()
    if not a.no_pocketsphinx and shutil.which("pocketsphinx_batch"):
        print("pocketsphinx LM: %s (%s)" % (ps_lm, ps_note))
        rep.add("-", "pocketsphinx", "lm", ps_lm, "", "")

    # -- data sets
    sets = []
    wanted = [x.strip() for x in a.sets.split(",") if x.strip()]
    wanted = [n for w in wanted for n in (NATIVE_SETS if w == "native" else (w,))]
    for name in wanted:
        if name in NATIVE_SETS:
            man = os.path.join(CORPUS, NATIVE_SOURCE, "dev.tsv")
            if not os.path.exists(man):
                print("set %s: %s not present, skipped" % (name, man))
                continue
            rate = dict((t, r) for r, t in NATIVE_RATES)[name[len("native-"):]]
            log("bench: %s/dev as %d Hz files (sox -D, untimed)..." % (NATIVE_SOURCE, rate))
            sets.append(prepare_set(name, read_manifest(man), tmp, native_rate=rate))
            continue
        if name == "synth":
            d = os.path.join(tmp, "synth_src")
            os.makedirs(d)
            log("bench: synthesising %d sentences (espeak-ng, flite)..." % a.synth_n)
            items = make_synth(d, a.synth_n)
        elif name == "slt":
            man = os.path.join(os.environ.get("ASRD_DATA", os.path.join(ROOT, "data")), "eval-synth", "eval.tsv")
            if not os.path.exists(man):
                print("set slt: %s not present (make eval-synth), skipped" % man)
                continue
            items = read_manifest(man)
        elif name in CORPUS_SETS:
            man = os.path.join(CORPUS, name, "dev.tsv")
            if not os.path.exists(man):
                print("set %s: %s not present, skipped" % (name, man))
                continue
            items = read_manifest(man)
        else:
            log("bench: unknown set %s" % name)
            continue
        log("bench: converting %s (%d files) to 16 kHz 16-bit mono..." % (name, len(items)))
        sets.append(prepare_set(name, items, tmp))

    # -- transcription runs
    table = []
    for s in sets:
        row = dict(set=s["name"], n=len(s["utts"]), audio=s["seconds"])
        refs = [u["ref"] for u in s["utts"]]
        rep.add(s["name"], "-", "files", len(s["utts"]), "", "")
        rep.add(s["name"], "-", "audio", s["seconds"], "s", "")
        for sysname in SYSTEMS:
            if sysname == "asrd":
                if not model:
                    continue
                log("bench: asrd (greedy) on %s..." % s["name"])
                r = run_asrd(s, model, a.repeat, tmp, env)
            elif sysname == "asrd-beam":
                if not model or not lm:
                    continue
                log("bench: asrd (beam + LM) on %s..." % s["name"])
                r = run_asrd(s, model, a.repeat, tmp, env, lm)
            else:
                if a.no_pocketsphinx or not shutil.which("pocketsphinx_batch"):
                    continue
                log("bench: pocketsphinx on %s..." % s["name"])
                r = run_pocketsphinx(s, a.ps_repeat or a.repeat, tmp, env, lm=ps_lm)
            if not r["ok"]:
                print("%s on %s FAILED: %s" % (sysname, s["name"], r.get("error", "")))
                rep.add(s["name"], sysname, "error", r.get("error", ""), "", "")
                continue
            m = median_runs(r["runs"])
            hyps = [h if h is not None else "" for h in r["hyps"]]
            missing = sum(1 for h in r["hyps"] if h is None)
            sc = score(list(zip(refs, hyps)), tmp)
            scl = sclite_wer(sc["norm"], tmp)
            res = dict(cpu=m["cpu_s"], wall=m["wall_s"], rss=m["maxrss_kb"] / 1024.0,
                       rtf=m["cpu_s"] / s["seconds"],
                       wer=100.0 * sc["we"] / max(sc["wn"], 1), cer=100.0 * sc["ce"] / max(sc["cn"], 1),
                       sclite=scl, missing=missing, scorer=sc["scorer"],
                       cpu_all=[x["cpu_s"] for x in r["runs"]])
            row[sysname] = res
            for k, unit in (("cpu", "s"), ("wall", "s"), ("rtf", "x"), ("rss", "MB"), ("wer", "%"),
                            ("cer", "%")):
                rep.add(s["name"], sysname, k, res[k], unit,
                        "<= %g" % TARGET_RTF if (k == "rtf" and sysname == "asrd") else "")
            rep.add(s["name"], sysname, "cpu_runs", " ".join("%.3f" % c for c in res["cpu_all"]), "s", "")
            if r.get("sox_cpu") is not None:
                res["sox_cpu"] = r["sox_cpu"]
                rep.add(s["name"], sysname, "cpu_includes_sox_conversion", r["sox_cpu"], "s", "")
            rep.add(s["name"], sysname, "wer_sclite", scl, "%", "")
            rep.add(s["name"], sysname, "scorer", sc["scorer"], "", "")
            if missing:
                rep.add(s["name"], sysname, "missing_hypotheses", missing, "", "")
            if sysname != "pocketsphinx":
                rep.add(s["name"], sysname, "own_score_line", r["own_score"], "", "")
            if sysname == "asrd":
                if facts and res["cpu"] > 0:
                    frames = sum(output_frames(u["samples"], facts) for u in s["utts"])
                    res["gflops"] = facts["flops_per_frame"] * frames / res["cpu"] / 1e9
                    rep.add(s["name"], "asrd", "output_frames", frames, "", "")
                    rep.add(s["name"], "asrd", "achieved_gflops", res["gflops"], "GFLOP/s", "")
                    if peak:
                        rep.add(s["name"], "asrd", "fraction_of_sgemm_peak", res["gflops"] / peak, "", "")
        for sysname in ("asrd", "asrd-beam"):
            if sysname in row and "pocketsphinx" in row and row[sysname]["cpu"] > 0:
                row[sysname]["speedup"] = row["pocketsphinx"]["cpu"] / row[sysname]["cpu"]
                rep.add(s["name"], sysname, "speedup_vs_pocketsphinx", row[sysname]["speedup"],
                        "x (CPU ratio)", ">= %g" % (TARGET_BEAM_SPEEDUP if sysname == "asrd-beam" else TARGET_GREEDY_SPEEDUP))
        if s["name"] == TARGET_RESAMPLE_SET and "asrd" in row:
            frac, why = perf_fraction(run_asrd_cmd(s, model), tmp, env)
            row["resample_perf"] = frac
            rep.add(s["name"], "asrd", "resample_cpu_fraction_perf", frac if frac is not None else why, "%",
                    "<= %g" % TARGET_RESAMPLE_FRACTION)
        if "asrd" in row and "asrd-beam" in row and row["asrd"]["wer"] > 0:
            g, b = row["asrd"]["wer"], row["asrd-beam"]["wer"]
            row["wer_reduction"] = 100.0 * (g - b) / g
            rep.add(s["name"], "asrd-beam", "wer_reduction_vs_greedy", row["wer_reduction"], "% relative",
                    ">= %g" % TARGET_BEAM_WER_REDUCTION if s["name"] == TARGET_BEAM_WER_SET else "")
        table.append(row)

    # -- issue 6 targets, one line each in the TSV
    red = next((row["wer_reduction"] for row in table
                if row["set"] == TARGET_BEAM_WER_SET and "wer_reduction" in row), None)
    if red is not None:
        rep.add("targets", "asrd-beam", "wer_reduction_vs_greedy_%s" % TARGET_BEAM_WER_SET, red,
                "% relative", ">= %g" % TARGET_BEAM_WER_REDUCTION)
    sp = [(row["asrd-beam"]["speedup"], row["set"]) for row in table
          if "speedup" in row.get("asrd-beam", {})]
    if sp:
        rep.add("targets", "asrd-beam", "speedup_vs_pocketsphinx_worst_set", min(sp)[0], "x (CPU ratio)",
                ">= %g" % TARGET_BEAM_SPEEDUP)
        rep.add("targets", "asrd-beam", "speedup_worst_set", min(sp)[1], "", "")
    # -- issue 11 targets
    for name, beam, ps in issue11_vs_ps(table):
        rep.add("targets", "asrd-beam", "wer_minus_pocketsphinx_%s" % name, beam - ps, "WER points", "< 0")
    for name, wer, limit in issue11_ceilings(table):
        rep.add("targets", "asrd-beam", "wer_%s" % name, wer, "%", "<= %g" % limit)

    # -- startup / model load and one-stream memory
    startup = long_run = baseline = None
    if model:
        startup, baseline, long_run = load_and_memory([x for x in sets if not x.get("rate")], model, a.repeat,
                                                      tmp, env, rep, lm)

    # -- issue 13 targets
    for k, v in issue13(table).items():
        if v is not None and k != "greedy_speedups":
            rep.add("targets", "asrd", k, v[0] if isinstance(v, tuple) else v, "", "")
    print_table(table, peak, startup, baseline, long_run)


def issue13(table):
    """Resampling's share of asrd's CPU at 44.1 kHz: by perf (libsoxr's samples), and as the extra
    CPU of the 44.1 kHz files over the same speech at 16 kHz (an upper bound: it also counts
    decoding 2.8 times more PCM); and the greedy speed-up vs pocketsphinx on every set."""
    rows = {row["set"]: row for row in table}
    r44, r16 = rows.get(TARGET_RESAMPLE_SET, {}), rows.get("native-16k", {})
    diff = None
    if "asrd" in r44 and "asrd" in r16 and r44["asrd"]["cpu"] > 0:
        diff = 100.0 * (r44["asrd"]["cpu"] - r16["asrd"]["cpu"]) / r44["asrd"]["cpu"]
    sp = [(row["asrd"]["speedup"], row["set"]) for row in table if "speedup" in row.get("asrd", {})]
    return dict(resample_cpu_fraction_perf_44k=r44.get("resample_perf"), resample_cpu_fraction_vs_16k_44k=diff,
                greedy_speedup_vs_pocketsphinx_worst_set=min(sp) if sp else None, greedy_speedups=sp)


def issue11_vs_ps(table):
    """(set, asrd-beam WER, pocketsphinx WER) of the issue-11 sets measured with both."""
    return [(row["set"], row["asrd-beam"]["wer"], row["pocketsphinx"]["wer"]) for row in table
            if row["set"] in TARGET_BEAT_PS_SETS and "asrd-beam" in row and "pocketsphinx" in row]


def issue11_ceilings(table):
    """(set, asrd-beam WER, ceiling) of the issue-11 WER ceilings measured."""
    limits = dict(TARGET_WER_MAX)
    return [(row["set"], row["asrd-beam"]["wer"], limits[row["set"]]) for row in table
            if row["set"] in limits and "asrd-beam" in row]


def load_and_memory(sets, model, repeat, tmp, env, rep, lm=None):
    """Model load: whole `asrd --batch` on a 0.1 s file (startup total) beside `asrd --version`
    (process start without a model). Memory: peak RSS of asrd transcribing one long file, greedy
    (the one-stream figure), and with lm the same file through the beam decoder, reported apart:
    its RSS counts the LM's mapped file pages, which are page cache shared by every process."""
    d = os.path.join(tmp, "load")
    os.makedirs(d)
    short = os.path.join(d, "short.wav")
    srcs = [u["wav"] for s in sets for u in s["utts"]]
    if srcs:
        subprocess.run(["sox", "-q", srcs[0], short, "trim", "0", "0.1"], check=True)
    else:
        subprocess.run(["sox", "-q", "-n", "-r", str(RATE), "-b", "16", "-c", "1", short, "synth", "0.1",
                        "sine", "440"], check=True)
    out = os.path.join(d, "out.txt")
    n = max(5, repeat)
    short_runs = [measure([ASRD, "--batch", "--model", model, short], out, tmp, env) for _ in range(n)]
    startup = None
    if all(r["exit"] == 0 for r in short_runs):
        startup = median_runs(short_runs)
        rep.add("load", "asrd", "startup_wall_0.1s_file", startup["wall_s"] * 1000, "ms",
                "<= %g" % TARGET_LOAD_MS)
        rep.add("load", "asrd", "startup_cpu_0.1s_file", startup["cpu_s"] * 1000, "ms", "")
        rep.add("load", "asrd", "rss_0.1s_file", startup["maxrss_kb"] / 1024.0, "MB", "")
    else:
        print("asrd on a 0.1 s file FAILED: %s" % stderr_tail(out))
        rep.add("load", "asrd", "error", stderr_tail(out), "", "")
    base_runs = [measure([ASRD, "--version"], out, tmp, env) for _ in range(n)]
    baseline = median_runs(base_runs) if all(r["exit"] == 0 for r in base_runs) else None
    if baseline:
        rep.add("load", "asrd", "process_start_wall_version", baseline["wall_s"] * 1000, "ms", "")

    # one long file: up to ~120 s of the sets' audio joined
    long_run = None
    if srcs:
        chosen, total = [], 0.0
        for s in sets:
            for u in s["utts"]:
                if total < 120.0:
                    chosen.append(u["wav"])
                    total += u["seconds"]
        longf = os.path.join(d, "long.wav")
        subprocess.run(["sox", "-q"] + chosen + [longf], check=True)
        secs = wav_info(longf)[0] / RATE
        runs = [measure([ASRD, "--batch", "--model", model, longf], out, tmp, env) for _ in range(repeat)]
        if all(r["exit"] == 0 for r in runs):
            m = median_runs(runs)
            long_run = dict(seconds=secs, rss=max(r["maxrss_kb"] for r in runs) / 1024.0,
                            cpu=m["cpu_s"], rtf=m["cpu_s"] / secs)
            rep.add("long", "asrd", "audio", secs, "s", "")
            rep.add("long", "asrd", "rss_one_stream", long_run["rss"], "MB", "<= %g" % TARGET_RSS_MB)
            rep.add("long", "asrd", "cpu", long_run["cpu"], "s", "")
            rep.add("long", "asrd", "rtf", long_run["rtf"], "x", "<= %g" % TARGET_RTF)
        else:
            print("asrd on one long file FAILED: %s" % stderr_tail(out))
        if long_run and lm:
            runs = [measure([ASRD, "--batch", "--model", model, "--lm", lm, longf], out, tmp, env)
                    for _ in range(repeat)]
            if all(r["exit"] == 0 for r in runs):
                m = median_runs(runs)
                long_run["beam_rss"] = max(r["maxrss_kb"] for r in runs) / 1024.0
                long_run["beam_rtf"] = m["cpu_s"] / secs
                long_run["lm_mb"] = os.path.getsize(lm) / 1048576.0
                rep.add("long", "asrd-beam", "rss_one_stream_with_lm", long_run["beam_rss"], "MB", "")
                rep.add("long", "asrd-beam", "cpu", m["cpu_s"], "s", "")
                rep.add("long", "asrd-beam", "rtf", long_run["beam_rtf"], "x", "")
                split = rss_split([ASRD, "--batch", "--model", model, "--lm", lm, longf], out, env)
                if split:
                    long_run["beam_anon"], long_run["beam_file"] = split["RssAnon"], split["RssFile"]
                    rep.add("long", "asrd-beam", "rss_anon_sampled", split["RssAnon"], "MB", "")
                    rep.add("long", "asrd-beam", "rss_file_sampled", split["RssFile"], "MB", "")
            else:
                print("asrd --lm on one long file FAILED: %s" % stderr_tail(out))
    return startup, baseline, long_run


def print_table(table, peak, startup, baseline, long_run):
    print()
    hdr = "%-14s %-12s %5s %8s %8s %8s %9s %8s %7s %7s %7s %9s" % (
        "set", "system", "files", "audio s", "CPU s", "wall s", "RTF", "RSS MB", "WER %", "CER %",
        "vs PS", "GFLOP/s")
    print(hdr)
    print("-" * len(hdr))
    for row in table:
        for sysname in SYSTEMS:
            r = row.get(sysname)
            if not r:
                continue
            print("%-14s %-12s %5d %8.1f %8.2f %8.2f %9.5f %8.1f %7.1f %7.1f %7s %9s" % (
                row["set"], LABEL.get(sysname, sysname), row["n"], row["audio"], r["cpu"], r["wall"],
                r["rtf"], r["rss"], r["wer"], r["cer"], fmt(r.get("speedup"), "%.1fx"),
                fmt(r.get("gflops"), "%.2f")))
        if "wer_reduction" in row:
            print("%-14s %-12s beam + LM vs greedy: WER %.1f%% -> %.1f%%, %.1f%% relative reduction%s"
                  % (row["set"], "", row["asrd"]["wer"], row["asrd-beam"]["wer"], row["wer_reduction"],
                     "" if "pocketsphinx" not in row else "; pocketsphinx %.1f%%" % row["pocketsphinx"]["wer"]))
    print("vs PS = pocketsphinx CPU s / the row's CPU s on the same set. asrd-beam RSS includes the "
          "mapped LM pages (shared page cache).")
    sox = [(row["set"], row["pocketsphinx"]["sox_cpu"]) for row in table if "sox_cpu" in row.get("pocketsphinx", {})]
    if sox:
        print("native-* sets: asrd reads the files at their own rate and resamples them itself; pocketsphinx's CPU "
              "includes converting them to 16 kHz raw with sox (%s)." % ", ".join("%s %.2f s" % x for x in sox))
    print()
    scorers = {r[s]["scorer"] for r in table for s in SYSTEMS if s in r}
    if scorers:
        print("WER/CER: every system scored by %s; sclite WER in results.tsv" % ", ".join(sorted(scorers)))
    print("Targets (one thread, default model size; issue 3: asrd-greedy):")
    rtfs = [row["asrd"]["rtf"] for row in table if "asrd" in row]
    worst = max(rtfs) if rtfs else None
    print("  real-time factor    <= %-6g  measured %s (worst set)%s  %s" % (
        TARGET_RTF, fmt(worst, "%.5f"),
        "" if not long_run else ", %.5f on one %.0f s file" % (long_run["rtf"], long_run["seconds"]),
        verdict(worst, TARGET_RTF)))
    load_ms = startup["wall_s"] * 1000 if startup else None
    print("  model load          <= %-3g ms  measured %s ms (whole asrd --batch on a 0.1 s file, wall; "
          "CPU %s ms; asrd --version alone %s ms)  %s" % (
              TARGET_LOAD_MS, fmt(load_ms, "%.1f"), fmt(startup and startup["cpu_s"] * 1000, "%.1f"),
              fmt(baseline and baseline["wall_s"] * 1000, "%.1f"), verdict(load_ms, TARGET_LOAD_MS)))
    rss = long_run["rss"] if long_run else None
    print("  memory, one stream  <= %-3g MB  measured %s MB (peak RSS, one %s s file; %s MB on a 0.1 s "
          "file)  %s" % (TARGET_RSS_MB, fmt(rss, "%.1f"), fmt(long_run and long_run["seconds"], "%.0f"),
                         fmt(startup and startup["maxrss_kb"] / 1024.0, "%.1f"), verdict(rss, TARGET_RSS_MB)))
    if long_run and "beam_rss" in long_run:
        print("  memory, beam + LM   (no target) peak RSS %.1f MB on the same file, RTF %.5f; it counts the "
              "%.0f MB LM file's pages touched, page cache shared by every process mapping it"
              % (long_run["beam_rss"], long_run["beam_rtf"], long_run["lm_mb"]))
        if "beam_anon" in long_run:
            print("                      sampled /proc/PID/status peaks: %.1f MB file-backed (LM, model, "
                  "libraries), %.1f MB private (anonymous)" % (long_run["beam_file"], long_run["beam_anon"]))
    print("Targets (issue 6: asrd-beam, word LM, the decoder of configs/asrd.yaml):")
    red = next((row["wer_reduction"] for row in table
                if row["set"] == TARGET_BEAM_WER_SET and "wer_reduction" in row), None)
    print("  WER reduction vs greedy on %s  >= %g%% relative  measured %s  %s" % (
        TARGET_BEAM_WER_SET, TARGET_BEAM_WER_REDUCTION,
        "n/a (needs the %s set, the LM and both asrd rows)" % TARGET_BEAM_WER_SET if red is None
        else "%.1f%%" % red, verdict_min(red, TARGET_BEAM_WER_REDUCTION)))
    sp = [(row["asrd-beam"]["speedup"], row["set"]) for row in table if "speedup" in row.get("asrd-beam", {})]
    print("  speed-up vs pocketsphinx, every set  >= %gx (issue 13)  measured %s  %s" % (
        TARGET_BEAM_SPEEDUP,
        "n/a (needs the LM and pocketsphinx)" if not sp else "%.1fx worst (%s); %s" % (
            min(sp)[0], min(sp)[1], ", ".join("%s %.1fx" % (n, v) for v, n in sp)),
        verdict_min(min(sp)[0] if sp else None, TARGET_BEAM_SPEEDUP)))
    print("Targets (issue 11: asrd-beam on dev; pocketsphinx with the LM above, same run):")
    vs = issue11_vs_ps(table)
    for name, beam, ps in vs:
        print("  fewer word errors than pocketsphinx on %-12s WER %.1f%% vs %.1f%%  %s"
              % (name, beam, ps, "ok" if beam < ps else "MISSED"))
    if not vs:
        print("  fewer word errors than pocketsphinx: n/a (needs %s, the LM and pocketsphinx)"
              % "/".join(TARGET_BEAT_PS_SETS))
    for name, wer, limit in issue11_ceilings(table):
        print("  WER on %-15s <= %-4g%%  measured %.1f%%  %s" % (name, limit, wer, verdict(wer, limit)))
    i13 = issue13(table)
    if i13["greedy_speedups"] or i13["resample_cpu_fraction_perf_44k"] is not None:
        print("Targets (issue 13: audio at any rate; native-* sets are %s/dev at each rate):" % NATIVE_SOURCE)
        f, d = i13["resample_cpu_fraction_perf_44k"], i13["resample_cpu_fraction_vs_16k_44k"]
        print("  resampling at 44.1 kHz  <= %g%% of asrd-greedy's CPU  measured %s by perf (libsoxr's samples); "
              "%s more CPU than the same speech at 16 kHz (upper bound: also reads 2.8x the PCM)  %s"
              % (TARGET_RESAMPLE_FRACTION, fmt(f, "%.1f%%"), fmt(d, "%.1f%%"),
                 verdict(f if f is not None else d, TARGET_RESAMPLE_FRACTION)))
        sp = i13["greedy_speedups"]
        if sp:
            print("  asrd-greedy vs pocketsphinx, every set  >= %gx  measured %.1fx worst (%s); %s  %s" % (
                TARGET_GREEDY_SPEEDUP, min(sp)[0], min(sp)[1], ", ".join("%s %.1fx" % (n, v) for v, n in sp),
                verdict_min(min(sp)[0], TARGET_GREEDY_SPEEDUP)))
    if peak:
        g = [row["asrd"].get("gflops") for row in table if "asrd" in row and row["asrd"].get("gflops")]
        if g:
            print("  achieved %.2f GFLOP/s (median over sets, model FLOPs / whole-process CPU) = %.1f%% of "
                  "the %.1f GFLOP/s sgemm peak" % (statistics.median(g), 100 * statistics.median(g) / peak,
                                                   peak))


if __name__ == "__main__":
    main()
