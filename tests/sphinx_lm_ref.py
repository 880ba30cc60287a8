#!/usr/bin/python3
"""sphinx_lm_ref.py - checks a sphinxbase LM converted by model/recipe/sphinx_lm_to_arpa.py (and
`asrd --lm-convert`) against libsphinxbase itself: log10 p(w3 | w1 w2) from asrd's LM
(build/tests/tool_lm_score) and from libsphinxbase's ngram_ng_score on the original file must agree
within one logmath unit (base 1.0001: 4.3e-5 in log10) for trigrams of the ARPA file (a fixed
sample), random triples of its words, and the given extra trigrams (e.g. ones the converter had to
resolve).

Usage: sphinx_lm_ref.py SPHINX.lm.bin ASRD.lmbin ARPA TOOL_LM_SCORE [--extra "w1 w2 w3" ...]
Prints "N trigrams compared, worst |difference| D" and exits 0 when D <= 1e-4, 1 otherwise.
"""
import ctypes
import math
import random
import subprocess
import sys


def sphinx_scorer(path):
    lib = ctypes.CDLL("libsphinxbase.so.3")
    lib.logmath_init.restype = ctypes.c_void_p
    lib.logmath_init.argtypes = [ctypes.c_double, ctypes.c_int, ctypes.c_int]
    lib.ngram_model_read.restype = ctypes.c_void_p
    lib.ngram_model_read.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
    lib.ngram_wid.restype = ctypes.c_int32
    lib.ngram_wid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    i32 = ctypes.c_int32
    lib.ngram_ng_score.restype = i32
    lib.ngram_ng_score.argtypes = [ctypes.c_void_p, i32, ctypes.POINTER(i32), i32, ctypes.POINTER(i32)]
    model = lib.ngram_model_read(None, path.encode(), 0, lib.logmath_init(1.0001, 0, 0))  # 0: NGRAM_AUTO
    if not model:
        sys.exit("sphinx_lm_ref: libsphinxbase cannot read %s" % path)
    unit = math.log10(1.0001)

    def score(words):
        w = [lib.ngram_wid(model, x.encode("utf-8", "surrogateescape")) for x in words]
        hist = (i32 * 2)(w[1], w[0])  # most recent first
        used = i32()
        return lib.ngram_ng_score(model, w[2], hist, 2, ctypes.byref(used)) * unit
    return score


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    sphinx_lm, asrd_lm, arpa, tool = argv[1:5]
    extra = [x.split() for x in argv[6:]] if argv[5:6] == ["--extra"] else []
    rnd = random.Random(5)
    trigrams, words, section = [], [], None
    with open(arpa, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.startswith("\\"):
                section = line.strip()
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2:
                continue
            if section == "\\1-grams:" and fields[1] not in ("<s>", "</s>", "<unk>"):
                words.append(fields[1])
            elif section == "\\3-grams:" and rnd.random() < 0.002:
                trigrams.append(fields[1].split())
    trigrams += [[rnd.choice(words) for _ in range(3)] for _ in range(3000)] + extra
    p = subprocess.run([tool, asrd_lm], input="".join(" ".join(t) + "\n" for t in trigrams),
                       capture_output=True, text=True, check=True, errors="surrogateescape")
    ours = p.stdout.split()
    if len(ours) != len(trigrams):
        sys.exit("sphinx_lm_ref: %s printed %d scores for %d lines" % (tool, len(ours), len(trigrams)))
    score = sphinx_scorer(sphinx_lm)
    worst, where, n = 0.0, None, 0
    for t, a in zip(trigrams, ours):
        if a == "OOV":
            if t in extra:
                print("extra trigram %s: a word is not in %s" % (" ".join(t), asrd_lm))
                return 1
            continue
        d = abs(float(a) - score(t))
        n += 1
        if d > worst:
            worst, where = d, t
    print("%d trigrams compared, worst |difference| %.2g (%s)" % (n, worst, " ".join(where or [])))
    return 0 if worst <= 1e-4 and n > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
