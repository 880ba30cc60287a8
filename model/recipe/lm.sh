#!/bin/bash
# lm.sh - build the word language model reproducibly: ARPA trigram + binary image.
#
# Usage: model/recipe/lm.sh [--out DIR] [--order 2|3] [--source corpus|pocketsphinx]
#   Source text: the general English sentence pool the corpus recipe extracts
#   ($ASRD_DATA/corpus/text/train.tsv, third column, already in the model alphabet; made by
#   model/recipe/textpool.py from Debian's fortunes, WordNet examples, the Jargon File and the US
#   founding documents, with every sentence sharing a 6-word run with the cathy (CMU ARCTIC)
#   transcripts removed). The held-out pool part, speech-corpus prompt lists and dev/test
#   transcripts are never used; as a further guard any sentence equal to a cathy or fsdd
#   transcript (train or dev) is dropped here.
#   Estimator: model/recipe/ngram.py (interpolated Kneser-Ney, written as ARPA back-off).
#   Output: DIR/asrd-en.arpa and DIR/asrd-en.lmbin (default DIR: $ASRD_DATA/lm); deterministic.
#   Licences of the text: fortunes (BSD-style/public domain collections, Debian fortune-mod),
#   WordNet 3.0 (WordNet licence, BSD-like), Jargon File (public domain), US Constitution and
#   Declaration (public domain) - see model/recipe/textpool.py and the corpus README.
# --source pocketsphinx: instead of the corpus model, Debian's pocketsphinx-en-us general English
#   trigram (/usr/share/pocketsphinx/model/en-us/en-us.lm.bin, or $PSPHINX_LM; licence BSD-2,
#   Copyright 1995-2014 Carnegie Mellon University, 2014-2015 Alpha Cephei Inc., see
#   /usr/share/doc/pocketsphinx-en-us/copyright; keep that notice when shipping the model). Its
#   sphinxbase "Trie Language Model" is dumped by model/recipe/sphinx_lm_to_arpa.py (own reader:
#   sphinx_lm_convert aborts writing it as ARPA and libsphinxbase 5prealpha exports no n-gram
#   iterator); words outside a-z and apostrophe (279 of 72,547: hyphenated compounds, spelled
#   letters "a.") are dropped with their n-grams, no renormalisation. Output: DIR/en-us.arpa,
#   DIR/en-us.lmbin, DIR/en-us.SHA256SUMS. --order does not apply (the model is a trigram).
#   What text it was estimated from is not documented upstream; it is not built from our
#   corpora's prompts or dev/test transcripts by us.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
export ASRD_DATA=${ASRD_DATA:-data}
ASRD_SHARED=${ASRD_SHARED:-$root/../shared}
out=$ASRD_DATA/lm order=3 source=corpus
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2; shift 2 ;;
    --order) order=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "lm.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
ASRD=${ASRD:-build/asrd}
case $source in
corpus) ;;
pocketsphinx)
    src=${PSPHINX_LM:-/usr/share/pocketsphinx/model/en-us/en-us.lm.bin}
    [ -s "$src" ] || { echo "lm.sh: $src missing (Debian package pocketsphinx-en-us)" >&2; exit 1; }
    [ -x "$ASRD" ] || { echo "lm.sh: $ASRD missing (make build/asrd)" >&2; exit 2; }
    mkdir -p "$out"
    /usr/bin/python3 "$here/sphinx_lm_to_arpa.py" "$src" "$out/en-us.arpa"
    "$ASRD" --lm-convert "$out/en-us.arpa" "$out/en-us.lmbin"
    sha256sum "$src" "$out/en-us.arpa" "$out/en-us.lmbin" | tee "$out/en-us.SHA256SUMS"
    head -5 "$out/en-us.arpa" | grep ngram
    exit 0 ;;
*) echo "lm.sh: --source corpus|pocketsphinx, not $source" >&2; exit 2 ;;
esac
pool=$ASRD_DATA/corpus/text/train.tsv
[ -s "$pool" ] || { echo "lm.sh: $pool missing: run make corpus (model/recipe/corpus.sh) first" >&2; exit 1; }
[ -x "$ASRD" ] || { echo "lm.sh: $ASRD missing (make build/asrd)" >&2; exit 2; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Transcripts of the speech corpora, normalised the way the pool is (lowercase, a-z and '), to drop
# exact matches.
: > "$tmp/exclude"
for m in "$ASRD_SHARED"/corpus/cathy/*.tsv "$ASRD_SHARED"/corpus/fsdd/*.tsv; do
    [ -f "$m" ] && cut -f2 "$m" >> "$tmp/exclude"
done
/usr/bin/python3 - "$tmp/exclude" "$pool" > "$tmp/sentences" <<'PY'
import re, sys
def norm(s):
    s = s.lower().replace("-", " ")
    s = re.sub(r"[^a-z' ]", " ", s)
    return " ".join(s.split())
ex = {norm(l) for l in open(sys.argv[1], encoding="utf-8")}
kept = dropped = 0
for line in open(sys.argv[2], encoding="utf-8"):
    f = line.rstrip("\n").split("\t")
    if len(f) < 3 or not f[2].strip():
        continue
    if norm(f[2]) in ex:
        dropped += 1
        continue
    print(f[2])
    kept += 1
print("lm.sh: %d sentences, %d dropped as corpus transcripts" % (kept, dropped), file=sys.stderr)
PY
/usr/bin/python3 "$here/ngram.py" --order "$order" < "$tmp/sentences" > "$tmp/lm.arpa"
mv "$tmp/lm.arpa" "$out/asrd-en.arpa"
"$ASRD" --lm-convert "$out/asrd-en.arpa" "$out/asrd-en.lmbin"
sha256sum "$out/asrd-en.arpa" "$out/asrd-en.lmbin" | tee "$out/SHA256SUMS"
head -5 "$out/asrd-en.arpa" | grep ngram
