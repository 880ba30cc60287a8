#!/bin/bash
# eval_synth.sh - the synthetic evaluation set of asrd (`make eval-synth`).
#
# The reserved speaker slt (flite `slt` and festival `cmu_us_slt_arctic_hts`, never used for
# training) speaks sentences held out from the training pool (text/heldout.tsv made by
# textpool.py with the same seed as corpus.sh). Each engine speaks its own half of --n sentences,
# clean, 16 kHz mono FLAC. Output ${ASRD_DATA:-data}/eval-synth/eval.tsv (path<TAB>text, paths
# relative to it) and flite-slt/, festival-slt/. Resumable; deterministic given --seed.
#
# Usage: eval_synth.sh [--n 200] [--seed N] [--out DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
n=200 seed=1 out= shared=
while [ $# -gt 0 ]; do
    case $1 in
    --n) n=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --shared) shared=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "eval_synth.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
cd "$root"
data=${ASRD_DATA:-data}
out=${out:-$data/eval-synth}
shared=${shared:-${ASRD_SHARED:-$root/../shared}}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The held-out sentences: the same pool and seed as the training corpus, so none of them is
# ever in a training manifest.
$PY "$here/textpool.py" --out "$out/text" --seed "$seed" --cathy "$shared/corpus/cathy/*.tsv"
total=$(wc -l < "$out/text/heldout.tsv")
[ "$n" -le "$total" ] || { echo "eval_synth.sh: only $total held-out sentences" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n "$n" "$out/text/heldout.tsv" > "$tmp/sents.tsv"
mkdir -p "$out/flite-slt" "$out/festival-slt"

# Even lines: flite slt; odd lines: festival slt (HTS, 32 kHz, one batch process).
i=0
: > "$tmp/fest.scm"
echo "(voice_cmu_us_slt_arctic_hts)" >> "$tmp/fest.scm"
while IFS=$'\t' read -r _src speak _text; do
    id=$(printf 'e%04d' $i)
    if [ $((i % 2)) -eq 0 ]; then
        f="$out/flite-slt/$id.flac"
        if [ ! -f "$f" ]; then
            flite -voice slt -t "$speak" -o "$tmp/$id.wav"
            sox -V1 "$tmp/$id.wav" -r 16000 -c 1 -b 16 "$f.part.flac" && mv "$f.part.flac" "$f"
        fi
    elif [ ! -f "$out/festival-slt/$id.flac" ]; then
        esc=${speak//\\/\\\\}
        esc=${esc//\"/\\\"}
        echo "(utt.save.wave (utt.synth (Utterance Text \"$esc\")) \"$tmp/$id.wav\" 'riff)" >> "$tmp/fest.scm"
    fi
    i=$((i + 1))
done < "$tmp/sents.tsv"
festival --batch "$tmp/fest.scm" >/dev/null 2>&1 || true
for w in "$tmp"/e*.wav; do
    [ -f "$w" ] || continue
    id=$(basename "$w" .wav)
    f="$out/festival-slt/$id.flac"
    [ -f "$f" ] && continue
    sox -V1 "$w" -r 16000 -c 1 -b 16 "$f.part.flac" && mv "$f.part.flac" "$f"
done

# Manifest: only files that exist, in sentence order.
i=0
: > "$out/eval.tsv.tmp"
missing=0
while IFS=$'\t' read -r _src _speak text; do
    id=$(printf 'e%04d' $i)
    if [ $((i % 2)) -eq 0 ]; then rel="flite-slt/$id.flac"; else rel="festival-slt/$id.flac"; fi
    if [ -f "$out/$rel" ]; then
        printf '%s\t%s\n' "$rel" "$text" >> "$out/eval.tsv.tmp"
    else
        missing=$((missing + 1))
    fi
    i=$((i + 1))
done < "$tmp/sents.tsv"
mv "$out/eval.tsv.tmp" "$out/eval.tsv"
secs=$(cut -f1 "$out/eval.tsv" | sed "s|^|$out/|" | xargs soxi -D 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}')
echo "eval-synth: $(wc -l < "$out/eval.tsv") utterances, ${secs:-0} s, $missing missing: $out/eval.tsv" >&2
[ "$missing" -eq 0 ]
