#!/usr/bin/python3
"""compare_runs.py - two asr-train runs side by side (the model card's GRU-vs-LSTM table).

Usage: model/recipe/compare_runs.py RUN_DIR_A RUN_DIR_B [--every N] [--markdown]

Reads each run folder's config.yaml (architecture), log.tsv (update, audio seconds per second,
training seconds) and eval.tsv (dev WER/CER per set and evaluation) as asr-train writes them, and
prints, for every update both runs evaluated (every N-th of them with --every), the dev WER/CER of
both, then the parameter counts, the median training throughput and the training time each run
needed to reach its last common evaluation. Parameter counts follow the trainer's layer equations
(PyTorch's: GRU 3 gates, LSTM 4, two bias vectors each) and are checked against the model file
when RUN_DIR/best.model or last.model exists (asrd's model_flops helper). Standard library only.
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL_FLOPS = os.path.join(ROOT, "build", "tests", "bench", "model_flops")


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def config_value(text, key, section=None):
    """The scalar `key:` of config.yaml (inside `section:` when given); a tiny reader for the keys
    asr-train writes, one per line."""
    cur = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\s*)([A-Za-z_]+):\s*(.*?)\s*(#.*)?$", line)
        if not m:
            continue
        indent, k, v = len(m.group(1)), m.group(2), m.group(3)
        if indent == 0:
            cur = k
        if k == key and (section is None or (cur == section and indent > 0)):
            return v
    return None


def arch(run):
    with open(os.path.join(run, "config.yaml")) as f:
        text = f.read()
    a = dict(type=config_value(text, "type", "model"), layers=int(config_value(text, "layers", "model")),
             hidden=int(config_value(text, "hidden", "model")),
             stack=int(config_value(text, "stack", "features") or 1),
             ceps=int(config_value(text, "num_ceps", "features") or 40))
    return a


def params(a, n_out=29):
    gates = {"gru": 3, "lstm": 4}[a["type"]]
    n, inp, h = 0, a["ceps"] * a["stack"], a["hidden"]
    for _ in range(a["layers"]):
        n += gates * (h * (inp + h) + 2 * h)
        inp = h
    return n + n_out * h + n_out


def model_params(run):
    for name in ("best.model", "last.model"):
        p = os.path.join(run, name)
        if os.path.exists(p) and os.access(MODEL_FLOPS, os.X_OK):
            out = subprocess.run([MODEL_FLOPS, p], capture_output=True, text=True, check=False).stdout
            for line in out.splitlines():
                if line.startswith("params "):
                    return int(float(line.split()[1]))
    return None


def evals(run):
    """{update: {set: (wer, cer)}} with set names shortened to their folder (cathy, fsdd)."""
    res = {}
    for r in read_tsv(os.path.join(run, "eval.tsv")):
        name = os.path.basename(os.path.dirname(r["set"])) or r["set"]
        res.setdefault(int(r["update"]), {})[name] = (float(r["wer"]), float(r["cer"]))
    return res


def train_seconds(run):
    """[(update, training seconds)] and the median audio seconds per second of log.tsv."""
    rows = read_tsv(os.path.join(run, "log.tsv"))
    pts = [(int(r["update"]), float(r["train_s"])) for r in rows]
    speed = [float(r["audio_s_per_s"]) for r in rows if float(r["audio_s_per_s"]) > 0]
    return pts, (statistics.median(speed) if speed else None)


def seconds_at(pts, update):
    best = None
    for u, s in pts:
        if u <= update:
            best = s
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs=2)
    ap.add_argument("--every", type=int, default=1, help="print every N-th common evaluation")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table (the model card's)")
    a = ap.parse_args()
    info = []
    for run in a.runs:
        ar = arch(run)
        pts, speed = train_seconds(run)
        info.append(dict(run=run, arch=ar, params=params(ar), file_params=model_params(run), ev=evals(run),
                         pts=pts, speed=speed,
                         name="%dx%d %s" % (ar["layers"], ar["hidden"], ar["type"].upper())))
    for i in info:
        if i["file_params"] is not None and i["file_params"] != i["params"]:
            sys.exit("compare_runs: %s: %d parameters in the model file, %d computed"
                     % (i["run"], i["file_params"], i["params"]))
    common = sorted(set(info[0]["ev"]) & set(info[1]["ev"]))
    sets = sorted(set(s for u in common for s in info[0]["ev"][u]) & set(s for u in common for s in info[1]["ev"][u]))
    shown = common[a.every - 1::a.every]
    if common and common[-1] not in shown:
        shown.append(common[-1])
    sep = " | " if a.markdown else "  "
    head = ["update"] + ["%s %s WER/CER %%" % (i["name"], s) for s in sets for i in info] + \
           ["%s train min" % i["name"] for i in info]
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(head))
    for u in shown:
        cells = ["{:,}".format(u)]
        for s in sets:
            for i in info:
                w = i["ev"][u].get(s)
                cells.append("%.1f / %.1f" % w if w else "-")
        for i in info:
            t = seconds_at(i["pts"], u)
            cells.append("%.0f" % (t / 60) if t is not None else "-")
        print(("| " + " | ".join(cells) + " |") if a.markdown else sep.join(cells))
    print()
    for i in info:
        print("%s: %s parameters, median %s audio s per training s, run %s"
              % (i["name"], "{:,}".format(i["params"]), "%.0f" % i["speed"] if i["speed"] else "?", i["run"]))
    if not common:
        print("no common evaluations yet")


if __name__ == "__main__":
    main()
