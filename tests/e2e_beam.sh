#!/bin/bash
# e2e_beam.sh - asrd --batch with --decoder beam end to end on real files (the bundled sample and,
# when present, a few cathy/dev recordings) with a tiny random-weight model (tool_mkmodel: garbage
# but deterministic transcripts) and a toy ARPA LM written here: the beam decoder runs; with
# --closed-vocab every output word is an LM word; the binary LM (--lm-convert) decodes exactly as
# the ARPA text; --threads 2 == --threads 1; json words carry times; --score works; a corrupt binary
# header and broken, empty or n-gram-less ARPA files are refused naming file (and line), a corrupt
# n-gram table decodes without a crash and `asrd --check` reports it; --lm default finds the source tree's
# data/lm/cmu-en-us.lmbin or names where it looked; bad option values are usage errors.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
SHARED=${ASRD_SHARED:-$PWD/../shared}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$ASRD" "$MK"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }

# Files: the bundled sample, plus up to 6 cathy/dev recordings if the shared corpus is here.
printf '%s\t%s\n' "$PWD/tests/data/sample.flac" "$(cat tests/data/sample.txt 2>/dev/null || echo x)" > "$T/list.tsv"
if [ -s "$SHARED/corpus/cathy/dev.tsv" ]; then
    head -6 "$SHARED/corpus/cathy/dev.tsv" | sed "s|^|$SHARED/corpus/cathy/|" >> "$T/list.tsv"
fi
n=$(wc -l < "$T/list.tsv")

# A toy LM over short common words (every word spelt in the model alphabet).
cat > "$T/toy.arpa" <<'ARPA'
\data\
ngram 1=9
ngram 2=3

\1-grams:
-99	<s>	-0.3
-0.8	</s>
-0.9	a	-0.2
-1.0	i	-0.2
-0.9	the	-0.2
-1.1	to	-0.2
-1.2	it	-0.1
-1.3	at	-0.1
-1.1	<unk>

\2-grams:
-0.4	<s> the
-0.5	the a
-0.6	to it

\end\
ARPA

"$ASRD" --batch --model "$T/m.model" --decoder beam --manifest "$T/list.tsv" > "$T/beam.txt" 2> "$T/err"
check "beam without LM runs (exit 0)" test $? -eq 0
check "beam without LM: one line per file" test "$(wc -l < "$T/beam.txt")" -eq "$n"

"$ASRD" --batch --model "$T/m.model" --lm "$T/toy.arpa" --closed-vocab --manifest "$T/list.tsv" > "$T/closed.txt" 2> "$T/err"
check "closed vocabulary runs: $(cat "$T/err")" test $? -eq 0
words_ok=$(cut -f2 "$T/closed.txt" | tr ' ' '\n' | grep -v '^$' | grep -cvxE 'a|i|the|to|it|at')
check "closed vocabulary: only LM words ($(cut -f2 "$T/closed.txt" | tr '\n' '|'))" test "$words_ok" -eq 0
check "closed vocabulary: some words output" test "$(cut -f2 "$T/closed.txt" | wc -w)" -gt 0

"$ASRD" --lm-convert "$T/toy.arpa" "$T/toy.lmbin"
check "--lm-convert exit 0" test $? -eq 0
"$ASRD" --batch --model "$T/m.model" --lm "$T/toy.arpa" --manifest "$T/list.tsv" --lm-weight 1.5 --word-bonus 2 > "$T/a.txt"
"$ASRD" --batch --model "$T/m.model" --lm "$T/toy.lmbin" --manifest "$T/list.tsv" --lm-weight 1.5 --word-bonus 2 > "$T/b.txt"
check "binary LM decodes as the ARPA text" cmp -s "$T/a.txt" "$T/b.txt"
"$ASRD" --batch --model "$T/m.model" --lm "$T/toy.lmbin" --manifest "$T/list.tsv" --lm-weight 1.5 --word-bonus 2 --threads 2 > "$T/c.txt"
check "--threads 2 == --threads 1" cmp -s "$T/a.txt" "$T/c.txt"
"$ASRD" --batch --model "$T/m.model" --lm "$T/toy.lmbin" --decoder greedy --manifest "$T/list.tsv" > "$T/g1.txt"
"$ASRD" --batch --model "$T/m.model" --manifest "$T/list.tsv" > "$T/g2.txt"
check "--decoder greedy ignores --lm" cmp -s "$T/g1.txt" "$T/g2.txt"

"$ASRD" --batch --model "$T/m.model" --lm "$T/toy.lmbin" --format json tests/data/sample.flac > "$T/j.json"
check "json with beam is valid and words have times" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
d = d[0] if isinstance(d, list) else d
ws = d.get("result", d.get("words", []))
assert all(w["end"] >= w["start"] for w in ws), ws
' "$T/j.json"

out=$("$ASRD" --batch --model "$T/m.model" --lm "$T/toy.lmbin" --manifest "$T/list.tsv" --score | tail -1)
check "--score with beam: $out" bash -c '[[ "$1" =~ ^WER\ [0-9.]+%\ .*CER ]]' _ "$out"

# Corrupt binary. A damaged header is refused at load; a damaged n-gram table (one byte near the
# end) passes the structural checks --batch makes (it no longer reads the whole file for the
# payload checksum): decoded without a crash, and reported by asrd --check, naming the file.
cp "$T/toy.lmbin" "$T/bad.lmbin"
printf '\xff' | dd of="$T/bad.lmbin" bs=1 seek=30 conv=notrunc 2>/dev/null
"$ASRD" --batch --model "$T/m.model" --lm "$T/bad.lmbin" tests/data/sample.flac > /dev/null 2> "$T/err"
rc=$?
check "corrupt header refused (exit $rc)" test $rc -ne 0
check "corrupt header: message names file: $(cat "$T/err")" grep -q "bad.lmbin.*checksum" "$T/err"
cp "$T/toy.lmbin" "$T/bad.lmbin"
size=$(stat -c %s "$T/bad.lmbin")
printf '\x7f' | dd of="$T/bad.lmbin" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
"$ASRD" --batch --model "$T/m.model" --lm "$T/bad.lmbin" tests/data/sample.flac > /dev/null 2> "$T/err"
rc=$?
check "corrupt n-gram table: --batch decodes without a crash (exit $rc): $(cat "$T/err")" test $rc -eq 0
"$ASRD" --check --model "$T/m.model" --lm "$T/bad.lmbin" > "$T/out" 2> "$T/err"
rc=$?
check "corrupt n-gram table: --check exit 1 (got $rc)" test $rc -eq 1
check "corrupt n-gram table: --check names the file: $(cat "$T/err")" grep -q "bad.lmbin: checksum mismatch" "$T/err"
"$ASRD" --check --model "$T/m.model" --lm "$T/toy.lmbin" > "$T/out" 2> "$T/err"
rc=$?
check "--check of the intact LM: exit 0 (got $rc), $(tail -1 "$T/out")" \
    bash -c '[ $1 -eq 0 ] && grep -q "toy.lmbin: ok" "$2"' _ $rc "$T/out"
: > "$T/empty.arpa"
"$ASRD" --batch --model "$T/m.model" --lm "$T/empty.arpa" tests/data/sample.flac > /dev/null 2> "$T/err"
check "empty ARPA refused naming the file: $(cat "$T/err")" grep -q "empty.arpa: empty file" "$T/err"
printf '\\data\\\n\\end\\\n' > "$T/nogram.arpa"
"$ASRD" --lm-convert "$T/nogram.arpa" "$T/nogram.lmbin" 2> "$T/err"
rc=$?
check "ARPA without n-grams: --lm-convert fails naming the file (exit $rc): $(cat "$T/err")" \
    bash -c '[ $1 -ne 0 ] && grep -q "nogram.arpa:2: .*no n-grams" "$2" && [ ! -e "$3" ]' _ $rc "$T/err" "$T/nogram.lmbin"
head -c 100 "$T/toy.lmbin" > "$T/short.lmbin"
"$ASRD" --batch --model "$T/m.model" --lm "$T/short.lmbin" tests/data/sample.flac > /dev/null 2> "$T/err"
check "truncated binary refused: $(cat "$T/err")" grep -q "short.lmbin" "$T/err"
sed 's/^-1.0\ti\t-0.2/-1.0x\ti\t-0.2/' "$T/toy.arpa" > "$T/bad.arpa"
"$ASRD" --batch --model "$T/m.model" --lm "$T/bad.arpa" tests/data/sample.flac > /dev/null 2> "$T/err"
rc=$?
check "broken ARPA refused with file:line (exit $rc): $(cat "$T/err")" grep -q "bad.arpa:9: bad log probability" "$T/err"
"$ASRD" --lm-convert "$T/bad.arpa" "$T/x.lmbin" 2> "$T/err"
check "--lm-convert of a broken ARPA fails" test $? -ne 0 -a ! -e "$T/x.lmbin"

# --lm default: the LM `make lm` builds in the source tree the binary lives in (<binary dir>/..).
mkdir -p "$T/tree/build" "$T/tree/data/lm"
cp "$ASRD" "$T/tree/build/asrd"
"$T/tree/build/asrd" --batch --model "$T/m.model" --lm default tests/data/sample.flac > /dev/null 2> "$T/err"
rc=$?
check "--lm default without an LM fails (exit $rc)" test $rc -eq 1
check "... naming the place looked at and make lm: $(cat "$T/err")" \
    grep -q "$T/tree/data/lm/cmu-en-us.lmbin.*make lm" "$T/err"
"$T/tree/build/asrd" --batch --model "$T/m.model" --lm default --decoder greedy --manifest "$T/list.tsv" > "$T/g3.txt"
check "--lm default with --decoder greedy needs no LM" cmp -s "$T/g2.txt" "$T/g3.txt"
cp "$T/toy.lmbin" "$T/tree/data/lm/cmu-en-us.lmbin"
"$T/tree/build/asrd" --batch --model "$T/m.model" --lm default --manifest "$T/list.tsv" --lm-weight 1.5 --word-bonus 2 > "$T/d.txt"
check "--lm default finds data/lm/cmu-en-us.lmbin and decodes as that file" cmp -s "$T/b.txt" "$T/d.txt"

"$ASRD" --batch --model "$T/m.model" --decoder foo tests/data/sample.flac > /dev/null 2> "$T/err"
check "--decoder foo is a usage error" test $? -eq 2
"$ASRD" --batch --model "$T/m.model" --decoder beam --beam 0 tests/data/sample.flac > /dev/null 2> "$T/err"
check "--beam 0 is a usage error" test $? -eq 2
"$ASRD" --lm-convert "$T/toy.arpa" > /dev/null 2> "$T/err"
check "--lm-convert needs two files" test $? -eq 2
finish
