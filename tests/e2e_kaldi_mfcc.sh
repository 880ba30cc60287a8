#!/bin/bash
# Kaldi-default MFCC (asrd --features --kaldi, or build/tests/tool_features before asrd exists)
# against torchaudio.compliance.kaldi.mfcc (tests/kaldi_mfcc_ref.py) on real speech (the shared
# corpus's cathy 16 kHz and fsdd 8 kHz dev sets, or tests/data when the corpus is absent) and
# synthetic signals at 16 and 8 kHz; plus the model frontend's 40 bins / 40 cepstra / 20..-400 Hz,
# and standard input (WAV, FLAC, OGG) giving the same output as the file.
# Max abs difference <= 1e-3 per coefficient, identical frame counts. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
REF=tests/kaldi_mfcc_ref.py
TOOL=build/tests/tool_features
[ -x "$TOOL" ] || make -s "$TOOL" >/dev/null || { echo "cannot build $TOOL"; echo "0 passed, 1 failed"; exit 1; }
if [ -x build/asrd ] && build/asrd --features --kaldi tests/data/sample.flac >/dev/null 2>&1; then
    KALDI=(build/asrd --features --kaldi)
else
    KALDI=("$TOOL")
fi
echo "features from: ${KALDI[*]}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

corpus=${ASRD_SHARED:-../shared}/corpus
[ -d "$corpus" ] || corpus=/work/shared/corpus
real=()
if [ -d "$corpus/cathy/dev" ] && [ -d "$corpus/fsdd/dev" ]; then
    # Every 4th cathy dev file and every 10th fsdd dev file: both rates, many speakers, ~40 files.
    mapfile -t c < <(ls "$corpus"/cathy/dev/*.flac | awk 'NR % 4 == 1')
    mapfile -t f < <(ls "$corpus"/fsdd/dev/*.flac | awk 'NR % 10 == 1')
    real=("${c[@]}" "${f[@]}")
else
    echo "shared corpus absent: real speech from tests/data only"
fi
real+=(tests/data/sample.flac tests/data/digit8k.flac)

list=$tmp/list.tsv
: >"$list"
i=0
for a in "${real[@]}"; do
    i=$((i + 1))
    if "${KALDI[@]}" "$a" >"$tmp/r$i.txt" 2>"$tmp/err"; then
        printf '%s\t%s\n' "$a" "$tmp/r$i.txt" >>"$list"
    else
        bad "$a: $(cat "$tmp/err")"
    fi
done
for rate in 16000 8000; do
    for kind in sine noise chirp silnoise; do
        w=$tmp/$kind-$rate.wav
        $PY $REF synth $kind $rate 2.0 "$w" || { bad "synth $kind $rate"; continue; }
        if "${KALDI[@]}" "$w" >"$w.txt" 2>"$tmp/err"; then
            printf '%s\t%s\n' "$w" "$w.txt" >>"$list"
        else
            bad "$w: $(cat "$tmp/err")"
        fi
    done
done
# The model frontend's parameters (not Kaldi's defaults) on a few files of each rate.
for a in "${real[@]:0:4}" "${real[@]: -6}"; do
    i=$((i + 1))
    if "$TOOL" --mel 40 --ceps 40 --low 20 --high -400 "$a" >"$tmp/m$i.txt" 2>"$tmp/err"; then
        printf '%s\t%s\t40 40 20 -400\n' "$a" "$tmp/m$i.txt" >>"$list"
    else
        bad "$a (40 bins): $(cat "$tmp/err")"
    fi
done

$PY $REF batch "$list" >"$tmp/out" 2>&1
grep -E '^(OK|FAIL)' "$tmp/out" | awk '{ n[$1]++ } END { for (k in n) print k, n[k] }'
grep -v '^OK' "$tmp/out"
pass=$((pass + $(grep -c '^OK' "$tmp/out")))
fail=$((fail + $(grep -c '^FAIL' "$tmp/out")))
# Worst agreement seen, for the log.
grep '^OK' "$tmp/out" | sed -nE 's/.*maxdiff=([0-9.e+-]+).*/\1/p' | sort -g | tail -1 | sed 's/^/largest maxdiff: /'
[ "$(grep -c '^OK' "$tmp/out")" -gt 0 ] || bad "reference produced no comparison"

# Standard input: same features as from the file, for WAV, FLAC and OGG.
sox -q tests/data/sample.flac "$tmp/s.wav" 2>/dev/null || $PY -c "
import torchaudio,sys; w,r=torchaudio.load(sys.argv[1],normalize=False); torchaudio.save(sys.argv[2],w,r,encoding='PCM_S',bits_per_sample=16)" tests/data/sample.flac "$tmp/s.wav"
for a in "$tmp/s.wav" tests/data/sample.flac tests/data/sample.ogg tests/data/digit8k.flac; do
    "${KALDI[@]}" "$a" >"$tmp/file.txt" 2>&1
    "${KALDI[@]}" - <"$a" >"$tmp/stdin.txt" 2>&1
    if [ -s "$tmp/file.txt" ] && cmp -s "$tmp/file.txt" "$tmp/stdin.txt"; then ok; else bad "stdin differs from file for $a"; fi
done

# Errors name the file.
for a in tests/data/bad_empty.wav tests/data/bad_notaudio.wav tests/data/bad_truncated.flac \
         tests/data/bad_zero_channels.wav "$tmp/missing.wav"; do
    if "${KALDI[@]}" "$a" >/dev/null 2>"$tmp/err"; then
        bad "$a accepted"
    elif grep -qF "$a" "$tmp/err"; then ok; else bad "$a: error does not name the file: $(cat "$tmp/err")"; fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
