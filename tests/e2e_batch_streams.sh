#!/bin/bash
# e2e_batch_streams.sh - asrd --batch --streams K (several files in flight per thread, their network
# steps batched) must not change a byte of the output. On a mixed list of real recordings of
# different lengths (cathy/dev at 16 kHz and fsdd/dev at 8 kHz, so the resampler runs), standard
# input, a FLAC that fails to decode half-way and a missing file, the stdout, stderr and exit status
# of --streams 3 and 8 (with --threads 1 and 2) equal those of --streams 1, in text and json (word
# times and confidences), manifest --score, greedy and beam with a toy ARPA LM written here; and
# the list's output equals each file transcribed alone in its own process. With the shipped model
# (and the word LM, if built) the same on real transcripts. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
SHARED=${ASRD_SHARED:-$PWD/../shared}
LMBIN=${ASRD_DATA:-$PWD/data}/lm/cmu-en-us.lmbin
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$ASRD" "$MK"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 5 >/dev/null || { bad "tool_mkmodel failed"; finish; }

# --- the list: real files of different lengths, a broken one, a missing one, stdin ---
C=$SHARED/corpus
real=()
if [ -s "$C/cathy/dev.tsv" ] && [ -s "$C/fsdd/dev.tsv" ]; then
    mapfile -t cathy < <(head -7 "$C/cathy/dev.tsv" | cut -f1 | sed "s|^|$C/cathy/|")
    mapfile -t fsdd < <(head -7 "$C/fsdd/dev.tsv" | cut -f1 | sed "s|^|$C/fsdd/|")
    for i in 0 1 2 3 4 5 6; do real+=("${cathy[$i]}" "${fsdd[$i]}"); done
else # no shared corpus: made-up audio of different lengths and rates, still deterministic
    echo "note: no shared corpus at $C: synthetic files instead"
    for i in 1 2 3 4 5 6 7; do
        sox -n -r 16000 -c 1 -b 16 "$T/s$i.wav" synth "$i" sine $((200 * i)) synth 0.3 sine 900
        sox -n -r 8000 -c 1 -b 16 "$T/t$i.wav" synth 0.$i sine $((150 * i))
        real+=("$T/s$i.wav" "$T/t$i.wav")
    done
fi
src=${real[0]}
head -c $(($(stat -c %s "$src") / 2)) "$src" >"$T/half.${src##*.}" # decode error part-way through
stdin_file=tests/data/sample.flac # for "-": another recording than the list's
[ -s "$C/cathy/dev.tsv" ] && stdin_file=$C/cathy/$(sed -n 9p "$C/cathy/dev.tsv" | cut -f1)
files=("${real[@]:0:5}" "$T/half.${src##*.}" "${real[@]:5:4}" "$T/missing.wav" - "${real[@]:9}")
n=${#files[@]}
printf '%s\n' "${files[@]}" | grep -v '^-$' | while read -r f; do soxi -D "$f" 2>/dev/null; done |
    sort -u | wc -l >"$T/ndur"
check "the list has files of $(cat "$T/ndur") different lengths" [ "$(cat "$T/ndur")" -ge 5 ]

# run NAME ARGS...: stdout, stderr and exit status of asrd --batch ARGS with the list's stdin
run() {
    local name=$1; shift
    "$ASRD" --batch --no-progress "$@" <"$stdin_file" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
}
# same NAME BASE: NAME's stdout (not empty), stderr and exit status are BASE's, byte for byte
same() {
    check "$1: stdout not empty" [ -s "$T/$1.out" ] # two empty outputs would compare equal
    check "$1: stdout = $2's" cmp -s "$T/$1.out" "$T/$2.out"
    check "$1: stderr = $2's" cmp -s "$T/$1.err" "$T/$2.err"
    check "$1: exit status = $2's" cmp -s "$T/$1.rc" "$T/$2.rc"
}
# matrix NAME ARGS...: --streams 1 (base), 3 and 8, with --threads 1 and 2, all equal
matrix() {
    local name=$1; shift
    run "$name-t1-k1" "$@" --streams 1
    for t in 1 2; do
        for k in 3 8; do
            run "$name-t$t-k$k" "$@" --threads $t --streams $k
            same "$name-t$t-k$k" "$name-t1-k1"
        done
    done
    run "$name-t2-k1" "$@" --threads 2 --streams 1
    same "$name-t2-k1" "$name-t1-k1"
}

M=(--model "$T/m.model")
matrix text "${M[@]}" "${files[@]}"
matrix json "${M[@]}" --format json "${files[@]}"

# what the base run must contain (so the equalities above compare something)
b=$T/json-t1-k1
check "exit status 1 (a file failed)" [ "$(cat "$b.rc")" = 1 ]
if [ "$(wc -l <"$b.err")" -eq 2 ] &&
    grep -q "^asrd: error: $T/half\..*decode error" "$b.err" && grep -q "^asrd: error: $T/missing.wav:" "$b.err"; then ok; else bad "two error lines: the broken and the missing file"; fi
check "$((n - 2)) json lines in input order" [ "$(/usr/bin/python3 -c '
import json, sys
print(" ".join(json.loads(l)["file"] for l in open(sys.argv[1])))' "$b.out")" = \
    "$(printf '%s\n' "${files[@]}" | grep -vx -e "$T/half\..*" -e "$T/missing.wav" | tr '\n' ' ' | sed 's/ $//')" ]
check "the random model says something" [ -n "$(cut -f2 "$T/text-t1-k1.out" | tr -d '\n ')" ]

# an independent reference: each file alone, in its own process (one stream, nothing to batch with)
: >"$T/alone.out"; : >"$T/alone.err"
for f in "${files[@]}"; do
    "$ASRD" --batch --no-progress "${M[@]}" --format json "$f" <"$stdin_file" >>"$T/alone.out" 2>>"$T/alone.err"
done
check "json list = each file alone" cmp -s "$T/alone.out" "$b.out"
check "errors list = each file alone" cmp -s "$T/alone.err" "$b.err"

# manifest with references and --score (the missing and the broken file score as empty)
for f in "${files[@]}"; do
    [ "$f" = - ] && continue
    printf '%s\t%s\n' "$f" "$(grep -F "$(basename "$f")" "$C"/*/dev.tsv 2>/dev/null | head -1 | cut -f2)"
done >"$T/list.tsv"
matrix score "${M[@]}" --manifest "$T/list.tsv" --score
check "score: summary line last" grep -q '^WER .* CER ' <(tail -1 "$T/score-t1-k1.out")

# beam search with a toy word LM (a bigram over short words, spelt in the model's alphabet)
cat >"$T/toy.arpa" <<'ARPA'
\data\
ngram 1=8
ngram 2=4

\1-grams:
-99	<s>	-0.4
-0.9	</s>
-0.8	no	-0.3
-1.0	so	-0.2
-0.9	he	-0.2
-1.2	we	-0.1
-1.1	one	-0.2
-1.2	<unk>

\2-grams:
-0.3	<s> he
-0.5	he so
-0.6	no one
-0.4	one </s>

\end\
ARPA
matrix beam "${M[@]}" --format json --lm "$T/toy.arpa" --beam 6 "${files[@]}"
if cmp -s "$T/beam-t1-k1.out" "$T/json-t1-k1.out"; then
    bad "beam with LM: transcripts equal greedy's (is the LM in play?)"
else
    ok
fi

# one file: srt and vtt (K is capped at the number of files)
for fmt in srt vtt; do
    run "$fmt-1" "${M[@]}" --format $fmt --streams 1 "${real[0]}"
    run "$fmt-8" "${M[@]}" --format $fmt --streams 8 "${real[0]}"
    same "$fmt-8" "$fmt-1"
done

# the shipped model, real transcripts: greedy, and beam with the word LM when it has been built
if [ -s model/asrd-en.model ]; then
    R=(--model model/asrd-en.model)
    matrix real "${R[@]}" --format json "${files[@]}"
    check "shipped model: real words" grep -q '"word":"[a-z]' "$T/real-t1-k1.out"
    if [ -s "$LMBIN" ]; then
        run reallm-k1 "${R[@]}" --format json --lm "$LMBIN" --streams 1 "${files[@]}"
        run reallm-k8 "${R[@]}" --format json --lm "$LMBIN" --streams 8 "${files[@]}"
        same reallm-k8 reallm-k1
        run reallm-t2k3 "${R[@]}" --format json --lm "$LMBIN" --threads 2 --streams 3 "${files[@]}"
        same reallm-t2k3 reallm-k1
    else
        skip "no word LM at $LMBIN (make lm): beam with the real LM not checked"
    fi
else
    skip "no shipped model: real-model comparisons not made"
fi

# usage
for v in 0 257 x ""; do
    "$ASRD" --batch "${M[@]}" --streams "$v" "${real[0]}" >/dev/null 2>"$T/err"; rc=$?
    if [ $rc -eq 2 ] && grep -q -- "--streams" "$T/err"; then ok; else bad "--streams '$v': usage error (exit $rc)"; fi
done
# standard input twice: files in flight together would read it in turns, so it is refused
"$ASRD" --batch "${M[@]}" "${real[0]}" - - <"$stdin_file" >"$T/out" 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && [ ! -s "$T/out" ] &&
    grep -q 'standard input ("-") is listed 2 times' "$T/err"; then ok; else bad "'-' twice: exit 1, nothing transcribed, says why"; fi
check "--help documents --streams" grep -q -- "--streams K" <("$ASRD" --help)
finish
