#!/usr/bin/python3
"""ngram.py - a word trigram language model in ARPA format, interpolated Kneser-Ney.

Reads sentences (one per line, already normalised to the model alphabet: lowercase words separated
by single spaces) and writes an ARPA file. Discounts per order D = n1 / (n1 + 2 n2) (Ney et al.);
lower orders use continuation counts (distinct left contexts), except n-grams starting with <s>;
unigrams are interpolated with a uniform distribution over the vocabulary plus <unk>. The result
is written in ARPA back-off form: a listed n-gram's probability is the interpolated one and the
back-off weight of a context is its interpolation weight, so ARPA back-off reproduces the
interpolated model exactly. Deterministic: output order is sorted.

Usage: ngram.py --order 3 [--min-count3 N] < sentences.txt > model.arpa
"""
import argparse
import collections
import math
import sys


def discount(counts):
    n = collections.Counter(c for c in counts.values() if c <= 2)
    n1, n2 = n[1], n[2]
    if n1 == 0 or n2 == 0:
        return 0.5
    return n1 / (n1 + 2.0 * n2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--order", type=int, default=3, choices=[2, 3])
    ap.add_argument("--min-count3", type=int, default=1,
                    help="drop trigrams seen fewer times (their mass backs off)")
    a = ap.parse_args()
    N = a.order
    raw = [collections.Counter() for _ in range(N + 1)]  # raw[k][tuple]
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        s = ["<s>"] + words + ["</s>"]
        for k in range(1, N + 1):
            for i in range(len(s) - k + 1):
                g = tuple(s[i:i + k])
                if k == 1 and g == ("<s>",):
                    continue
                raw[k][g] += 1
    # Counts used at each order: raw at the top, continuation counts below (raw for <s>-initial).
    cnt = [None] * (N + 1)
    cnt[N] = {g: c for g, c in raw[N].items() if c >= a.min_count3 or N < 3}
    for k in range(N - 1, 0, -1):
        cont = collections.Counter()
        for g in raw[k + 1]:
            cont[g[1:]] += 1
        c = {}
        for g in raw[k]:
            c[g] = raw[k][g] if g[0] == "<s>" else cont.get(g, 0)
        cnt[k] = {g: v for g, v in c.items() if v > 0}
    D = [0.0] + [discount(cnt[k]) for k in range(1, N + 1)]
    # Per-context totals and number of distinct followers.
    tot = [None] + [collections.Counter() for _ in range(N)]
    fol = [None] + [collections.Counter() for _ in range(N)]
    for k in range(1, N + 1):
        for g, c in cnt[k].items():
            tot[k][g[:-1]] += c
            fol[k][g[:-1]] += 1
    vocab = sorted({g[0] for g in cnt[1]} | {"</s>", "<unk>"})
    V = len(vocab)
    prob = [None] + [dict() for _ in range(N)]
    gamma = [None] + [dict() for _ in range(N)]  # gamma[k][context of length k-1]
    for k in range(1, N + 1):
        for h, t in tot[k].items():
            gamma[k][h] = D[k] * fol[k][h] / t
    # Unigrams.
    g0 = gamma[1][()]
    for w in vocab:
        c = cnt[1].get((w,), 0)
        prob[1][(w,)] = max(c - D[1], 0) / tot[1][()] + g0 / V
    for k in range(2, N + 1):
        for g, c in cnt[k].items():
            h = g[:-1]
            lower = g[1:]
            pl = lower_prob(prob, gamma, lower)
            prob[k][g] = max(c - D[k], 0) / tot[k][h] + gamma[k][h] * pl
    out = sys.stdout
    out.write("\\data\\\n")
    counts = [len(vocab) + 1] + [len(prob[k]) for k in range(2, N + 1)]
    for k in range(1, N + 1):
        out.write("ngram %d=%d\n" % (k, counts[k - 1]))
    for k in range(1, N + 1):
        out.write("\n\\%d-grams:\n" % k)
        items = sorted(prob[k].items())
        if k == 1:
            items = sorted(items + [(("<s>",), None)])
        for g, p in items:
            lp = -99.0 if p is None else math.log10(p)
            line = "%.6f\t%s" % (lp, " ".join(g))
            if k < N:
                bo = gamma[k + 1].get(g)
                line += "\t%.6f" % (math.log10(bo) if bo else 0.0)
            out.write(line + "\n")
    out.write("\n\\end\\\n")


def lower_prob(prob, gamma, g):
    """Interpolated probability of g (a tuple) through ARPA back-off over the listed lower orders."""
    k = len(g)
    if g in prob[k]:
        return prob[k][g]
    if k == 1:
        return prob[1].get(g, prob[1][("<unk>",)])
    return gamma[k].get(g[:-1], 1.0) * lower_prob(prob, gamma, g[1:])


if __name__ == "__main__":
    main()
