#!/bin/bash
# The corpus recipe (model/recipe/corpus.sh, voices.sh, eval_synth.sh) on a small scale in a temp
# dir: playable FLACs of sane duration, real copies of Ogg/Opus sources (decoded through
# libsndfile), RHVoice and Pico voices that speak, manifests in the model alphabet, no reserved
# voice (slt) in training, no cathy (ARCTIC prompt) sentence in the text pool, held-out sentences
# kept out of training, deterministic text pool, resumable runs, and the slt evaluation set.
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
check() { # check NAME COMMAND...: passes when COMMAND succeeds
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
for t in sox soxi flite espeak-ng festival sndfile-convert sndfile-info; do
    command -v $t >/dev/null || { echo "$t missing (make deps-test)"; echo "0 passed, 1 failed"; exit 1; }
done
for f in /usr/share/games/fortunes/fortunes /usr/share/wordnet/data.noun \
         /usr/share/doc/jargon-text/jargon.txt.gz /usr/share/state/us-declaration.gz; do
    [ -f $f ] || { echo "$f missing (make deps-test)"; echo "0 passed, 1 failed"; exit 1; }
done
shared=${ASRD_SHARED:-$(cd .. && pwd)/shared}
[ -f "$shared/corpus/cathy/train.tsv" ] || { echo "no $shared/corpus"; echo "0 passed, 1 failed"; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$dir/corpus
model/recipe/corpus.sh --out "$out" --max-synth 8 --max-real 4 -j 2 --shared "$shared" 2>"$dir/log"
check "corpus.sh exits 0" test $? -eq 0 || cat "$dir/log"
check "synth.tsv lists 8 files" test "$(wc -l < "$out/synth.tsv" 2>/dev/null)" = 8
check "real-aug.tsv lists 4 files" test "$(wc -l < "$out/real-aug.tsv" 2>/dev/null)" = 4

# Every listed file plays: FLAC, mono, 16 kHz (8 kHz for telephone copies), sane duration,
# not silent.
files_ok() {
    local m=$1 ok=0 rel text d words r c
    while IFS=$'\t' read -r rel text; do
        [ -f "$out/$rel" ] || { echo "missing $rel"; ok=1; continue; }
        [ "$(soxi -t "$out/$rel")" = flac ] || { echo "not flac $rel"; ok=1; }
        r=$(soxi -r "$out/$rel"); c=$(soxi -c "$out/$rel"); d=$(soxi -D "$out/$rel")
        words=$(echo "$text" | wc -w)
        { [ "$r" = 16000 ] || [ "$r" = 8000 ]; } && [ "$c" = 1 ] || { echo "rate $r ch $c $rel"; ok=1; }
        awk -v d="$d" -v w="$words" 'BEGIN { exit !(d >= 0.1 * w && d <= 1.2 * w + 5) }' \
            || { echo "duration $d s for $words words: $rel"; ok=1; }
        sox "$out/$rel" -n stat 2>&1 | awk '/RMS +amplitude/ { exit !($3 > 0.0005) }' \
            || { echo "silent $rel"; ok=1; }
    done < "$out/$m.tsv"
    return $ok
}
check "synth files play, sane durations" files_ok synth
check "real-aug files play, sane durations" files_ok real-aug

# Real copies keep their source's duration within speed 0.9-1.1 and up to 1 s of padding.
# Sources are measured by libsndfile (sndfile-info), independently of the worker's decoding.
src_dur() {
    sndfile-info "$1" | awk '/^Duration/ { split($3, t, ":"); print t[1] * 3600 + t[2] * 60 + t[3] }'
}
real_dur_ok() {
    local ok=0 id man rel eng voice params aug src text a b
    while IFS=$'\t' read -r id man rel eng voice params aug src text; do
        [ "$man" = real-aug ] || continue
        a=$(src_dur "$src"); b=$(soxi -D "$out/$rel")
        [ -n "$a" ] || { echo "cannot measure $src"; ok=1; continue; }
        awk -v a="$a" -v b="$b" 'BEGIN { exit !(b >= a / 1.12 && b <= a / 0.88 + 1.0) }' \
            || { echo "real copy $rel: $b s from $a s"; ok=1; }
        # listed in its corpus's train.tsv (paths relative to it), never in a dev.tsv
        local cdir=${src%/"${src#"$shared"/corpus/*/}"}
        cut -f1 "$cdir/train.tsv" | grep -qxF "${src#"$cdir"/}" || { echo "not in train.tsv: $src"; ok=1; }
        ! cut -f1 "$cdir"/dev.tsv 2>/dev/null | grep -qxF "${src#"$cdir"/}" || { echo "a dev file: $src"; ok=1; }
    done < "$out/plan/jobs.tsv"
    return $ok
}
check "real-aug copies: train sets only, durations follow their source" real_dur_ok
check "an Ogg/Opus source (sox cannot read it) was copied" \
    bash -c "grep -P '^r-[^\t]*\treal-aug\t' '$out/plan/jobs.tsv' | cut -f8 | grep -q '\.opus\$'"

# The voices voices.sh unpacks speak (8 synthetic jobs cover them with this seed).
check "plan has RHVoice and Pico jobs" \
    test "$(cut -f4 "$out/plan/jobs.tsv" | grep -cE '^(rhvoice|pico)$')" -gt 0
check "RHVoice/Pico files made" test "$(grep -cE '^synth/(rhvoice|pico)-' "$out/synth.tsv")" -gt 0
check "no RHVoice voice but bdl and clb unpacked" \
    test "$(ls "${ASRD_TTS:-data/tts}/root/usr/share/RHVoice/voices" | tr '\n' ' ')" = "bdl clb "

check "synth texts in the model alphabet" \
    bash -c "! cut -f2 '$out/synth.tsv' | grep -vqE \"^[a-z']+( [a-z']+)*\$\""
check "text pool in the model alphabet" \
    bash -c "! cut -f3 '$out/text/train.tsv' | grep -vqE \"^[a-z']+( [a-z']+)*\$\""
check "no slt voice in the plan" bash -c "! cut -f3,5 '$out/plan/jobs.tsv' | grep -qi slt"
check "plan.py refuses slt even if a table names it" bash -c "/usr/bin/python3 -c '
import sys; sys.path.insert(0, \"model/recipe\"); import plan
plan.NATURAL = [(\"rhvoice\", \"slt\", 1.0)]; plan.ESPEAK_SHARE = 0
plan.synth_job(1, 0, [(\"x\", \"a b\", \"a b\")])' 2>&1 | grep -q 'reserved for evaluation'"
check "plan is large enough to test" test "$(wc -l < "$out/text/train.tsv")" -gt 20000

# Normalised independently of textpool.py: lowercase, anything but letters/apostrophes -> space.
norm() { tr 'A-Z' 'a-z' | sed -E "s/[^a-z']+/ /g; s/^ +//; s/ +\$//"; }
cut -f2 "$shared"/corpus/cathy/*.tsv | norm | sort -u > "$dir/cathy.txt"
cut -f3 "$out/text/train.tsv" | norm | sort -u > "$dir/pool.txt"
cut -f3 "$out/text/heldout.tsv" | norm | sort -u > "$dir/held.txt"
check "no cathy sentence in the text pool" test -z "$(comm -12 "$dir/cathy.txt" "$dir/pool.txt")"
check "no cathy sentence held out" test -z "$(comm -12 "$dir/cathy.txt" "$dir/held.txt")"
check "held-out sentences not in the training pool" test -z "$(comm -12 "$dir/pool.txt" "$dir/held.txt")"
check "300 held out" test "$(wc -l < "$dir/held.txt")" = 300

# Determinism: the pool depends only on the seed.
/usr/bin/python3 model/recipe/textpool.py --out "$dir/tp1" --seed 1 --cathy "$shared/corpus/cathy/*.tsv" 2>/dev/null
/usr/bin/python3 model/recipe/textpool.py --out "$dir/tp7" --seed 7 --cathy "$shared/corpus/cathy/*.tsv" 2>/dev/null
check "same seed, same pool" cmp -s "$dir/tp1/train.tsv" "$out/text/train.tsv"
check "other seed, other held-out set" bash -c "! cmp -s '$dir/tp1/heldout.tsv' '$dir/tp7/heldout.tsv'"

# Resume: a rerun keeps existing files; a deleted file is remade, the manifests are unchanged.
first=$(head -1 "$out/synth.tsv" | cut -f1)
second=$(sed -n 2p "$out/synth.tsv" | cut -f1)
sum_before=$(md5sum < "$out/$first")
cp "$out/synth.tsv" "$dir/synth.before"
touch -d '2000-01-01' "$out/$first"
rm -f "$out/$second"
model/recipe/corpus.sh --out "$out" --max-synth 8 --max-real 4 -j 2 --shared "$shared" 2>"$dir/log2"
check "rerun exits 0" test $? -eq 0 || cat "$dir/log2"
check "rerun keeps an existing file" test "$(stat -c %Y "$out/$first")" = "$(date -d 2000-01-01 +%s)"
check "rerun remakes a deleted file" test -f "$out/$second"
check "rerun: same manifest" cmp -s "$dir/synth.before" "$out/synth.tsv"
check "rerun: same audio" test "$(md5sum < "$out/$first")" = "$sum_before"
check "a different seed is refused on the same dir" \
    bash -c "! model/recipe/corpus.sh --out '$out' --seed 2 --max-synth 1 --max-real 1 --shared '$shared' 2>/dev/null"

# Evaluation set: slt voices, held-out sentences, 16 kHz.
model/recipe/eval_synth.sh --n 4 --out "$dir/eval" --shared "$shared" 2>"$dir/log3"
check "eval_synth.sh exits 0" test $? -eq 0 || cat "$dir/log3"
check "eval.tsv lists 4 files" test "$(wc -l < "$dir/eval/eval.tsv" 2>/dev/null)" = 4
eval_ok() {
    local ok=0 rel text
    while IFS=$'\t' read -r rel text; do
        case $rel in flite-slt/*|festival-slt/*) ;; *) echo "voice? $rel"; ok=1 ;; esac
        [ "$(soxi -r "$dir/eval/$rel")" = 16000 ] || { echo "rate $rel"; ok=1; }
        grep -qxF "$text" "$dir/held.txt" || { echo "not held out: $text"; ok=1; }
    done < "$dir/eval/eval.tsv"
    return $ok
}
check "eval set: slt voices, 16 kHz, held-out texts" eval_ok
check "eval set has both engines" test "$(cut -d/ -f1 "$dir/eval/eval.tsv" | sort -u | wc -l)" = 2

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
