#!/bin/bash
# evaluate.sh - WER/CER of a model on the dev sets and the slt synthetic set, as the model card
# quotes them.
#
# Usage: model/recipe/evaluate.sh [MODEL] [-- extra asrd --batch options, e.g. --lm default]
#   MODEL defaults to model/asrd-en.model. Sets: $ASRD_SHARED/corpus/SET/dev.tsv for librispeech,
#   speechocean, speechcommands, cathy and fsdd, and $ASRD_DATA/eval-synth/eval.tsv (make
#   eval-synth), each skipped with a note when absent. Prints one line per set: set, files, WER, CER (asrd --score:
#   normalised references and hypotheses, Levenshtein over words and characters).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
ASRD=${ASRD:-build/asrd}
ASRD_DATA=${ASRD_DATA:-data}
ASRD_SHARED=${ASRD_SHARED:-$root/../shared}
model=model/asrd-en.model
if [ $# -gt 0 ] && [ "$1" != -- ]; then model=$1; shift; fi
[ "${1:-}" = -- ] && shift
[ -x "$ASRD" ] || { echo "evaluate.sh: $ASRD missing (make build/asrd)" >&2; exit 2; }
[ -f "$model" ] || { echo "evaluate.sh: no model $model" >&2; exit 2; }
printf 'set\tfiles\tWER\tCER\n'
for spec in librispeech speechocean speechcommands cathy fsdd "slt-synth:$ASRD_DATA/eval-synth/eval.tsv"; do
    case $spec in *:*) ;; *) spec="$spec/dev:$ASRD_SHARED/corpus/$spec/dev.tsv" ;; esac
    name=${spec%%:*} list=${spec#*:}
    if [ ! -f "$list" ]; then echo "evaluate.sh: $name: no $list, skipped" >&2; continue; fi
    line=$("$ASRD" --batch --no-progress --threads 2 --model "$model" "$@" --manifest "$list" --score | tail -1)
    wer=$(sed -nE 's/^WER ([0-9.]+%) \(([0-9]+\/[0-9]+)\).*/\1 (\2)/p' <<<"$line")
    cer=$(sed -nE 's/.*CER ([0-9.]+%) \(([0-9]+\/[0-9]+)\).*/\1 (\2)/p' <<<"$line")
    printf '%s\t%s\t%s\t%s\n' "$name" "$(grep -c . "$list")" "$wer" "$cer"
done
