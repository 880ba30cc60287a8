#!/bin/bash
# tune_lm.sh - grid search of the shipped decoder's LM weight and word insertion bonus on the dev
# sets, as the model card retunes them for each shipped model.
#
# Usage: model/recipe/tune_lm.sh [MODEL] [--config FILE] [--lm LM] [--weights "0.5 0.7 ..."]
#                                [--bonuses "1 2 3"]
#   MODEL defaults to model/asrd-en.model, FILE to configs/asrd.yaml (its decoder: beam, LM, unk
#   penalty; --lm overrides the LM). For every (weight, bonus) pair, model/recipe/evaluate.sh decodes
#   the five dev sets of $ASRD_SHARED/corpus (librispeech, speechocean, speechcommands, cathy, fsdd)
#   and this prints one line: weight, bonus, WER per set and their unweighted mean (the model card's
#   figure); then the best pair by that mean (ties: the smaller weight, then the smaller bonus).
#   Needs all five dev sets. Dev sets only: never tune on held-out data. The table also goes to
#   $ASRD_DATA/lm/tune.tsv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
export ASRD_DATA=${ASRD_DATA:-data}
model=model/asrd-en.model
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then model=$1; shift; fi
config=configs/asrd.yaml lm=() weights="0.5 0.6 0.7 0.8 0.9" bonuses="1 2 3"
while [ $# -gt 0 ]; do
    case $1 in
    --config) config=$2; shift 2 ;;
    --lm) lm=(--lm "$2"); shift 2 ;;
    --weights) weights=$2; shift 2 ;;
    --bonuses) bonuses=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "tune_lm.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
sets="librispeech/dev speechocean/dev speechcommands/dev cathy/dev fsdd/dev"
out=$ASRD_DATA/lm/tune.tsv
mkdir -p "$(dirname "$out")"
printf 'weight\tbonus\t%s\tmean\n' "$(tr ' ' '\t' <<<"$sets")" | tee "$out"
for w in $weights; do
    for b in $bonuses; do
        # evaluate.sh prints "set files WER% (errors/words) CER..."; keep the dev sets' WER, in order.
        "$here/evaluate.sh" "$model" -- --config "$config" "${lm[@]}" --lm-weight "$w" \
            --word-bonus "$b" 2>/dev/null |
            awk -F'\t' -v w="$w" -v b="$b" -v sets="$sets" '
                { sub(/%.*/, "", $3); wer[$1] = $3 }
                END {
                    n = split(sets, s, " "); line = w "\t" b; sum = 0
                    for (i = 1; i <= n; i++) {
                        if (!(s[i] in wer)) { print "tune_lm.sh: no WER for " s[i] > "/dev/stderr"; exit 1 }
                        line = line "\t" wer[s[i]]; sum += wer[s[i]]
                    }
                    printf "%s\t%.2f\n", line, sum / n
                }' | tee -a "$out"
    done
done
best=$(tail -n +2 "$out" | sort -t$'\t' -k8,8g -k1,1g -k2,2g | head -1)
echo "best (weight bonus WER per set, mean): $best"
