#!/usr/bin/python3
"""sphinx_lm_to_arpa.py - dump a sphinxbase binary "Trie Language Model" (e.g. Debian
pocketsphinx-en-us's en-us.lm.bin) as an ARPA back-off model, for `asrd --lm-convert`.

Usage: sphinx_lm_to_arpa.py IN.lm.bin OUT.arpa [--all-words]

Why our own reader: sphinx_lm_convert (sphinxbase-utils 5prealpha) aborts writing this model as
ARPA, and the installed libsphinxbase exports no n-gram iterator.

The format, as sphinxbase 5prealpha writes it (ngram_model_trie.c, lm_trie.c, lm_trie_quant.c,
bitarr.c; all little-endian):
  "Trie Language Model" (19 bytes, no NUL), uint8 order, uint32 counts[order]
  int32 quantisation type (1 = 16-bit bins; the only kind 5prealpha writes)
  float bins: for each middle order k = 2..order-1: 65536 probability centres then 65536
      back-off centres; then 65536 probability centres of the highest order
  unigrams: (counts[0] + 1) x {float prob, float backoff, uint32 next}; the extra one is a
      sentinel, so word w's children are middle entries [next[w], next[w+1])
  middle arrays (orders 2..order-1), then the longest array, each bit-packed with a fixed
      entry width: word id (bits(counts[0]) bits), then for middles a 32-bit quantised field
      (back-off bin index in the low 16 bits, probability bin index in the high 16) and a
      child pointer (bits(counts[k]) bits), for the longest order a 16-bit probability bin
      index. A field at bit offset o is the little-endian uint32 at byte o>>3, shifted right
      by o&7 and masked. Each array is ((entries+1)*width+7)/8 + 8 bytes.
  int32 length of the vocabulary, then counts[0] NUL-terminated words (id order).
The trie is reversed (KenLM style): the path unigram w -> middle h1 -> longest h2 is the ARPA
trigram "h2 h1 w", and a middle node holds the probability AND back-off of the ARPA n-gram it
spells ("h1 w"). Counts in the header include the "blank" middle entries sphinxbase inserts to
reach longer n-grams whose suffix was not listed (probability = the backed-off value, back-off
0); they score exactly as the missing entry would, so they are written as ordinary n-grams.
Scores are natural floats in log base 1.0001 (sphinx's logmath); we write log10.

Child ranges must be sorted by word id (sphinxbase looks words up by interpolation search); an
entry in an unsorted range that the lookup cannot reach, e.g. the second copy of a duplicated
n-gram in the upstream CMU build, is dropped, so the ARPA file scores as sphinxbase does.

Vocabulary: asrd's alphabet is lowercase a-z and apostrophe. Words of the model that are not
in it (after lowercasing) - hyphenated compounds such as "e-mail", spelled letters "a." - are
dropped with every n-gram containing them; <s>, </s> and <unk> (any case) are kept. Probabilities are NOT
renormalised (the dropped unigram mass is reported). --all-words keeps every word unchanged.
"""
import os
import re
import struct
import sys

import numpy as np

MAGIC = b"Trie Language Model"
LOG10_BASE = np.log10(1.0001)  # sphinx logmath base used when the model was written
BINS = 1 << 16


def required_bits(v):
    return int(v).bit_length()


def read_field(buf, bitoff, length):
    """Values of `length` (<= 25) bits at the bit offsets `bitoff` (int64 array) of buf."""
    byte = bitoff >> 3
    v = (buf[byte].astype(np.uint64) | (buf[byte + 1].astype(np.uint64) << 8) |
         (buf[byte + 2].astype(np.uint64) << 16) | (buf[byte + 3].astype(np.uint64) << 24))
    return ((v >> (bitoff & 7).astype(np.uint64)) & np.uint64((1 << length) - 1)).astype(np.int64)


class Format(Exception):
    pass


def uniform_find(keys, begin, end, max_vocab, key):
    """The index sphinxbase's lookup (lm_trie.c uniform_find: interpolation search over a child
    range it assumes sorted by word id) returns for `key` in keys[begin:end], or None."""
    before_it, before_v, after_it, after_v = begin - 1, 0, end, max_vocab
    if key > after_v:
        return None
    while after_it - before_it > 1:
        pivot = before_it + 1 + ((key - before_v) * (after_it - before_it - 1)) // (after_v - before_v + 1)
        mid = int(keys[pivot])
        if mid < key:
            before_it, before_v = pivot, mid
        elif mid > key:
            after_it, after_v = pivot, mid
        else:
            return pivot
    return None


def reachable(word, nxt, max_vocab):
    """Which entries of one level sphinxbase can look up. Every child range should be sorted by
    word id; a writer bug leaves a few unsorted (the upstream CMU en-us model has 24 trigrams out of
    order, 4 of them duplicates of a trigram with another probability). In such a range an entry
    counts only if the search for its word lands on it, so the ARPA model scores as sphinxbase does
    and holds no duplicates."""
    ok = np.ones(len(word), bool)
    unsorted = np.nonzero(word[1:] <= word[:-1])[0] + 1  # candidates; filtered by range below
    starts = nxt[:-1]
    for r in np.unique(np.searchsorted(nxt, unsorted, side="right") - 1):
        b, e = int(starts[r]), int(nxt[r + 1])
        if not (word[b + 1:e] > word[b:e - 1]).all():
            for j in range(b, e):
                ok[j] = uniform_find(word, b, e, max_vocab, int(word[j])) == j
    return ok


def read_trie(path):
    """Returns (words, levels): levels[k-1] is a dict of int64 arrays for order k:
    'ids' (n, k) word ids in ARPA order (oldest first), 'prob' log10, 'bo' log10 (None for the
    highest order)."""
    with open(path, "rb") as f:
        data = f.read()

    def need(off, n, what):
        if off + n > len(data):
            raise Format("%s: truncated in the %s (%d bytes)" % (path, what, len(data)))
    if data[:len(MAGIC)] != MAGIC:
        raise Format("%s: not a sphinxbase trie LM (no \"%s\" header)" % (path, MAGIC.decode()))
    off = len(MAGIC)
    need(off, 1, "header")
    order = data[off]
    off += 1
    if not 2 <= order <= 4:
        raise Format("%s: order %d not supported (2..4)" % (path, order))
    need(off, 4 * order + 4, "header")
    counts = struct.unpack_from("<%dI" % order, data, off)
    off += 4 * order
    qtype = struct.unpack_from("<i", data, off)[0]
    off += 4
    if qtype not in (0, 1):  # 5prealpha writes 0 or 1 ahead of the same 16-bit tables
        raise Format("%s: quantisation type %d unknown" % (path, qtype))
    n_tab = 2 * (order - 2) + 1
    need(off, 4 * n_tab * BINS, "quantisation tables")
    tables = np.frombuffer(data, "<f4", n_tab * BINS, off).astype(np.float64)
    off += 4 * n_tab * BINS
    tables = tables.reshape(n_tab, BINS)
    V = counts[0]
    need(off, 12 * (V + 1), "unigrams")
    uni = np.frombuffer(data, [("p", "<f4"), ("b", "<f4"), ("n", "<u4")], V + 1, off)
    off += 12 * (V + 1)
    wbits = required_bits(V)
    arrays = []  # (bit buffer, entry width, next bits)
    for k in range(2, order + 1):
        nbits = required_bits(counts[k]) if k < order else 0
        width = wbits + (32 if k < order else 16) + nbits
        size = ((1 + counts[k - 1]) * width + 7) // 8 + 8
        need(off, size, "%d-gram array" % k)
        # 3 bytes of padding so that a 4-byte read at the last field stays in the buffer
        buf = np.concatenate([np.frombuffer(data, np.uint8, size, off), np.zeros(4, np.uint8)])
        arrays.append((buf, width, nbits))
        off += size
    need(off, 4, "vocabulary")
    vlen = struct.unpack_from("<i", data, off)[0]
    off += 4
    if off + vlen != len(data):
        raise Format("%s: size %d, layout implies %d" % (path, len(data), off + vlen))
    # Not every build is UTF-8 (the upstream CMU en-us model has a few Latin-1 words such as
    # "caf\xe9"): undecodable bytes are kept as surrogates, written back unchanged with --all-words and
    # otherwise dropped as outside the alphabet.
    words = [w.decode("utf-8", "surrogateescape") for w in data[off:off + vlen].split(b"\0")[:-1]]
    if len(words) != V:
        raise Format("%s: %d words, header says %d" % (path, len(words), V))

    levels = [{"ids": np.arange(V, dtype=np.int64)[:, None],
               "prob": uni["p"][:V].astype(np.float64) * LOG10_BASE,
               "bo": uni["b"][:V].astype(np.float64) * LOG10_BASE, "alive": np.ones(V, bool)}]
    # Walk the reversed trie level by level: parent ranges -> children.
    nxt = uni["n"].astype(np.int64)  # child ranges of the previous level, len n_parents + 1
    for k in range(2, order + 1):
        buf, width, nbits = arrays[k - 2]
        n_par = len(nxt) - 1
        sizes = np.diff(nxt)
        if (sizes < 0).any() or nxt[0] != 0 or nxt[-1] > counts[k - 1]:
            raise Format("%s: corrupt child pointers into the %d-gram array" % (path, k))
        n = int(nxt[-1])
        parent = np.repeat(np.arange(n_par, dtype=np.int64), sizes)
        base = np.arange(n, dtype=np.int64) * width
        word = read_field(buf, base, wbits)
        if (word >= V).any():
            raise Format("%s: word id out of range in the %d-gram array" % (path, k))
        prev = levels[-1]["ids"]
        ids = np.concatenate([word[:, None], prev[parent]], axis=1)  # reversed path = ARPA order
        # an entry counts if its parent does and the lookup finds it (a lost node loses its subtree)
        lev = {"ids": ids, "alive": levels[-1]["alive"][parent] & reachable(word, nxt, V)}
        if k < order:
            t = 2 * (k - 2)
            lev["bo"] = tables[t + 1][read_field(buf, base + wbits, 16)] * LOG10_BASE
            lev["prob"] = tables[t][read_field(buf, base + wbits + 16, 16)] * LOG10_BASE
            # child pointers of entries 0..n (entry n's pointer is the end sentinel)
            ptr = np.arange(n + 1, dtype=np.int64) * width + wbits + 32
            nxt = read_field(buf, ptr, nbits)
        else:
            lev["prob"] = tables[-1][read_field(buf, base + wbits, 16)] * LOG10_BASE
            lev["bo"] = None
        levels.append(lev)
    for k, lev in enumerate(levels, 1):
        for key in ("prob", "bo"):
            if lev[key] is not None and not np.isfinite(lev[key]).all():
                raise Format("%s: non-finite %s in %d-grams" % (path, key, k))
    return words, levels


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    all_words = "--all-words" in argv[1:]
    if len(args) != 2 or any(a not in ("--all-words",) for a in argv[1:] if a.startswith("--")):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    src, dst = args
    try:
        words, levels = read_trie(src)
    except Format as e:
        sys.stderr.write("sphinx_lm_to_arpa: %s\n" % e)
        return 1
    except (OSError, UnicodeDecodeError) as e:
        sys.stderr.write("sphinx_lm_to_arpa: %s: %s\n" % (src, e))
        return 1
    ok_re = re.compile(r"[a-z']+")
    out_words = []
    keep = np.zeros(len(words), bool)
    seen = set()
    for i, w in enumerate(words):
        if not all_words:
            w = w.lower()  # also <UNK> -> <unk>, the unknown-word token asrd's LM looks up
            if w not in ("<s>", "</s>", "<unk>"):
                if not ok_re.fullmatch(w):
                    w = None
            if w in seen:  # a case variant of a word already kept
                w = None
        out_words.append(w)
        if w is not None:
            keep[i] = True
            seen.add(w)
    uni_p = 10.0 ** levels[0]["prob"]
    sys.stderr.write("sphinx_lm_to_arpa: %s: order %d, %s n-grams; %d of %d words dropped "
                     "(unigram mass %.5f, not renormalised)\n" %
                     (src, len(levels), "/".join(str(len(l["prob"])) for l in levels),
                      len(words) - int(keep.sum()), len(words), float(uni_p[~keep].sum())))
    order = len(levels)
    lost = [int((~l["alive"]).sum()) for l in levels]
    if any(lost):
        sys.stderr.write("sphinx_lm_to_arpa: %s: %s n-grams out of order in their trie range and not "
                         "found by sphinxbase's lookup (duplicates among them): dropped\n" %
                         (src, "/".join(str(x) for x in lost)))
    sel = [keep[l["ids"]].all(axis=1) & l["alive"] for l in levels]
    tmp = dst + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("\\data\\\n")
        for k in range(order):
            f.write("ngram %d=%d\n" % (k + 1, int(sel[k].sum())))
        for k, lev in enumerate(levels):
            f.write("\n\\%d-grams:\n" % (k + 1))
            ids = lev["ids"][sel[k]]
            # sphinx clamps positive unigram log probabilities to 0; so do we for every order
            prob = np.minimum(lev["prob"][sel[k]], 0.0)
            bo = lev["bo"][sel[k]] if lev["bo"] is not None else None
            # ARPA convention: sort by the words' text so the file is deterministic and readable
            text = [" ".join(out_words[j] for j in row) for row in ids.tolist()]
            perm = sorted(range(len(text)), key=text.__getitem__)
            lines = []
            for i in perm:
                if bo is None:
                    lines.append("%.6f\t%s\n" % (prob[i], text[i]))
                else:
                    lines.append("%.6f\t%s\t%.6f\n" % (prob[i], text[i], bo[i]))
            f.writelines(lines)
        f.write("\n\\end\\\n")
    os.replace(tmp, dst)
    sys.stderr.write("sphinx_lm_to_arpa: wrote %s (%s n-grams)\n" %
                     (dst, "/".join(str(int(s.sum())) for s in sel)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
