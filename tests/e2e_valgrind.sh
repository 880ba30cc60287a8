#!/bin/bash
# e2e_valgrind.sh - the real binaries under valgrind memcheck: asrd --batch on good and bad files
# (WAV, FLAC, OGG, stdin, missing, not audio) with the greedy and the beam decoder, asr-train for a
# few updates, and the unit tests of the frontend, model file, runtime streams and decoders.
# Any memcheck error or definite leak fails. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v valgrind >/dev/null || { bad "valgrind not installed (make deps-test)"; finish; }
need_bins build/asrd build/asr-train build/tests/tool_mkmodel
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset ASRD_MODEL
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)
# vg NAME EXPECTED_STATUS CMD...: runs CMD under memcheck; status 99 means memcheck found errors
vg() {
    local name=$1 want=$2; shift 2
    "${VG[@]}" --log-file="$T/vg.log" "$@" >"$T/out" 2>"$T/err" </dev/null
    local rc=$?
    if [ $rc -eq 99 ] || [ -s "$T/vg.log" ]; then
        bad "$name: memcheck errors"; sed 's/^/    /' "$T/vg.log" | head -30
    elif [ $rc -ne "$want" ]; then
        bad "$name: exit $rc, expected $want"; tail -5 "$T/err"
    else
        ok
    fi
}
build/tests/tool_mkmodel "$T/m.model" --layers 2 --hidden 48 --seed 5 >/dev/null || { bad mkmodel; finish; }
cp tests/data/sample.flac "$T/a.flac"
sox tests/data/sample.flac -r 16000 -b 16 "$T/a.wav"
sox tests/data/sample.flac -r 22050 "$T/a.ogg"
printf 'not audio at all\n' > "$T/bad.wav"
vg "batch greedy, good and bad files" 1 build/asrd --batch --model "$T/m.model" --format json \
    "$T/a.flac" "$T/a.wav" "$T/a.ogg" "$T/bad.wav" "$T/missing.wav"
printf '%s\t%s\n' a.flac "gregson shoved back his chair" a.wav "rose to his feet" > "$T/list.tsv"
vg "batch manifest --score --threads 2" 0 build/asrd --batch --model "$T/m.model" --manifest "$T/list.tsv" \
    --score --threads 2
vg "batch beam (no LM), srt" 0 build/asrd --batch --model "$T/m.model" --decoder beam --format srt "$T/a.wav"
vg "batch stdin" 0 bash -c "exec build/asrd --batch --model '$T/m.model' - < '$T/a.wav'"
vg "features --kaldi" 0 build/asrd --features --kaldi "$T/a.wav"
# the trainer: a few updates on the bundled sample (the tiny config of e2e_train)
printf '%s\t%s\n' "$PWD/tests/data/sample.flac" "$(cat tests/data/sample.txt)" > "$T/train.tsv"
if [ -f configs/train-tiny.yaml ]; then
    TRAIN_TINY_MANIFEST="$T/train.tsv" ASRD_DATA="$T/data" vg "asr-train, 3 updates" 0 \
        build/asr-train --config configs/train-tiny.yaml --outdir "$T/run" --max-updates 3 --threads 2
fi
for t in test_mfcc test_audio test_model_file test_model_stream test_ctc_decoder test_ctc_beam test_lm test_ring; do
    [ -x build/tests/$t ] || { bad "missing build/tests/$t"; continue; }
    vg "$t" 0 build/tests/$t
done
finish
