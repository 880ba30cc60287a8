#!/usr/bin/python3
"""Word LMs side by side on the dev sets: asrd (the shipped decoder configuration, configs/asrd.yaml,
with each LM) and pocketsphinx (Debian's en-us acoustic model and dictionary with each LM), WER/CER
per set. `make bench-lm` runs it; see tests/bench/README.md.

asrd reads the manifests' files as they are (`asrd --batch --config configs/asrd.yaml --lm LM
--manifest SET --score`, as model/recipe/evaluate.sh does); pocketsphinx gets 16 kHz 16-bit
conversions of the same files (bench.py's prepare_set). Both are scored by asrd's normaliser and
edit distance. Accuracy only: nothing here is timed.

Default LMs (each skipped with a message when a file is missing; `make lm` builds both):
  debian  asrd data/lm/en-us.lmbin          pocketsphinx /usr/share/pocketsphinx/model/en-us/en-us.lm.bin
  cmu     asrd data/lm/cmu-en-us.lmbin      pocketsphinx data/lm/cmu-en-us.lm.bin
Outputs: a table on stdout and build/bench/lm_compare.tsv (set, system, lm, files, wer, cer,
word_edits, words, char_edits, chars).
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (sets, conversion, pocketsphinx runs and the scorer are the bench's)

DATA = os.environ.get("ASRD_DATA") or os.path.join(bench.ROOT, "data")
DEFAULT_LMS = ["debian=%s:%s" % (os.path.join(DATA, "lm", "en-us.lmbin"), bench.PS_DEBIAN_LM),
               "cmu=%s:%s" % (os.path.join(DATA, "lm", "cmu-en-us.lmbin"),
                              os.path.join(DATA, "lm", "cmu-en-us.lm.bin"))]
SCORE_RE = re.compile(r"^WER [0-9.]+% \((\d+)/(\d+)\) CER [0-9.]+% \((\d+)/(\d+)\)")


def manifests(names):
    """(name, manifest) of every wanted set that exists; prints a line for each one skipped."""
    out = []
    for name in names:
        if name == "slt":
            man = os.path.join(DATA, "eval-synth", "eval.tsv")
            hint = " (make eval-synth)"
        else:
            man = os.path.join(bench.CORPUS, name, "dev.tsv")
            hint = ""
        if os.path.exists(man):
            out.append((name, man))
        else:
            print("set %s: %s not present%s, skipped" % (name, man, hint))
    return out


def asrd_score(model, manifest, extra, threads):
    """asrd --batch --score over the manifest's own files; returns (we, wn, ce, cn) or raises."""
    cmd = [bench.ASRD, "--batch", "--no-progress", "--threads", str(threads), "--model", model] + extra + \
        ["--manifest", manifest, "--score"]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    last = p.stdout.rstrip("\n").rsplit("\n", 1)[-1]
    m = SCORE_RE.match(last)
    if not m:
        raise RuntimeError("%s: exit %d, no score line: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-300:]))
    return tuple(int(x) for x in m.groups())


def ps_score(s, lm, tag):
    """pocketsphinx_batch with lm on the set's 16 kHz conversions; returns (we, wn, ce, cn, missing)."""
    work = os.path.join(s["dir"], tag)
    os.makedirs(work, exist_ok=True)
    r = bench.run_pocketsphinx(s, 1, work, None, lm=lm, tag=tag)
    if not r["ok"]:
        raise RuntimeError(r.get("error", "pocketsphinx failed"))
    hyps = [h if h is not None else "" for h in r["hyps"]]
    sc = bench.score([(u["ref"], h) for u, h in zip(s["utts"], hyps)], work)
    return sc["we"], sc["wn"], sc["ce"], sc["cn"], sum(1 for h in r["hyps"] if h is None)


def pct(e, n):
    return 100.0 * e / max(n, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=bench.SHIPPED_MODEL, help="acoustic model (default: the shipped one)")
    ap.add_argument("--config", default=bench.SHIPPED_CONFIG,
                    help="asrd's decoder configuration (default configs/asrd.yaml); --lm overrides its LM")
    ap.add_argument("--sets", default=",".join(bench.CORPUS_SETS + ("slt",)),
                    help="comma-separated dev sets (default: %(default)s)")
    ap.add_argument("--lm", action="append", metavar="NAME=ASRD_LM:SPHINX_LM",
                    help="an LM to compare, as asrd's file and pocketsphinx's (either may be empty); "
                         "repeatable (default: debian and cmu, see above)")
    ap.add_argument("--no-pocketsphinx", action="store_true")
    ap.add_argument("--jobs", type=int, default=1, help="pocketsphinx runs at once (default 1)")
    ap.add_argument("--threads", type=int, default=2, help="asrd --threads (default 2)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tsv", default=os.path.join(bench.BUILD, "bench", "lm_compare.tsv"))
    a = ap.parse_args()

    if not os.access(bench.ASRD, os.X_OK):
        sys.exit("lm_compare: %s missing (make build/asrd)" % bench.ASRD)
    if not os.path.exists(a.model):
        sys.exit("lm_compare: no model %s" % a.model)
    lms = []
    for spec in a.lm or DEFAULT_LMS:
        name, _, files = spec.partition("=")
        alm, _, slm = files.partition(":")
        for f, what in ((alm, "asrd"), (slm, "pocketsphinx")):
            if f and not os.path.exists(f):
                print("LM %s: %s file %s missing (make lm), skipped for %s" % (name, what, f, what))
        lms.append((name, alm if alm and os.path.exists(alm) else None, slm if slm and os.path.exists(slm) else None))
    use_ps = not a.no_pocketsphinx and shutil.which("pocketsphinx_batch")
    if not a.no_pocketsphinx and not use_ps:
        print("pocketsphinx_batch missing (Debian package pocketsphinx): pocketsphinx columns skipped")
    sets = manifests([x.strip() for x in a.sets.split(",") if x.strip()])
    print("model %s; asrd decoder: --config %s (its beam and weights) with each LM"
          % (os.path.relpath(a.model, bench.ROOT), os.path.relpath(a.config, bench.ROOT)))

    rows = []  # (set, system, lm, files, we, wn, ce, cn)
    tmp = tempfile.mkdtemp(prefix="asrd-lmcmp.")
    try:
        for name, man in sets:
            n = sum(1 for line in open(man, encoding="utf-8") if line.strip())
            bench.log("lm_compare: %s: asrd greedy" % name)
            rows.append((name, "asrd-greedy", "-", n) + asrd_score(a.model, man, [], a.threads))
            for lm, alm, _ in lms:
                if alm:
                    bench.log("lm_compare: %s: asrd beam + %s" % (name, lm))
                    rows.append((name, "asrd-beam", lm, n) +
                                asrd_score(a.model, man, ["--config", a.config, "--lm", alm], a.threads))
            ps_lms = [(lm, slm) for lm, _, slm in lms if slm] if use_ps else []
            if not ps_lms:
                continue
            bench.log("lm_compare: %s: converting %d files to 16 kHz for pocketsphinx" % (name, n))
            s = bench.prepare_set(name, bench.read_manifest(man), tmp)
            with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as ex:
                futs = [(lm, ex.submit(ps_score, s, slm, "ps-" + lm)) for lm, slm in ps_lms]
                for lm, f in futs:
                    we, wn, ce, cn, missing = f.result()
                    if missing:
                        print("pocketsphinx + %s on %s: %d files without a hypothesis (scored empty)"
                              % (lm, name, missing))
                    rows.append((name, "pocketsphinx", lm, n, we, wn, ce, cn))
            if not a.keep:
                shutil.rmtree(s["dir"], ignore_errors=True)
    finally:
        if a.keep:
            bench.log("lm_compare: kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    os.makedirs(os.path.dirname(a.tsv), exist_ok=True)
    with open(a.tsv, "w") as f:
        f.write("set\tsystem\tlm\tfiles\twer\tcer\tword_edits\twords\tchar_edits\tchars\n")
        for r in rows:
            f.write("%s\t%s\t%s\t%d\t%.2f\t%.2f\t%d\t%d\t%d\t%d\n" % (r[:4] + (pct(r[4], r[5]), pct(r[6], r[7])) + r[4:]))
    cols = []
    for r in rows:
        if (r[1], r[2]) not in cols:
            cols.append((r[1], r[2]))
    print("\nWER / CER %% per set (%s)" % os.path.relpath(a.model, bench.ROOT))
    head = ["set", "files"] + [sysname if lm == "-" else "%s %s" % (sysname, lm) for sysname, lm in cols]
    print(" | ".join(head))
    names = [n for n, _ in sets]
    for name in names + ["mean"]:
        cells = [name, str(next((r[3] for r in rows if r[0] == name), "")) if name != "mean" else ""]
        for col in cols:
            if name == "mean":  # every set weighs the same
                v = [(pct(r[4], r[5]), pct(r[6], r[7])) for r in rows if (r[1], r[2]) == col]
                cells.append("%.1f / %.1f" % (sum(x for x, _ in v) / len(v), sum(y for _, y in v) / len(v))
                             if len(v) == len(names) else "n/a")
            else:
                r = next((r for r in rows if r[0] == name and (r[1], r[2]) == col), None)
                cells.append("%.1f / %.1f" % (pct(r[4], r[5]), pct(r[6], r[7])) if r else "n/a")
        print(" | ".join(cells))
    print("\nfigures as TSV: %s" % os.path.relpath(a.tsv, bench.ROOT))


if __name__ == "__main__":
    main()
