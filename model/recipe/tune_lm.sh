#!/bin/bash
# tune_lm.sh - grid search of the beam decoder's LM weight and word insertion bonus on the dev sets.
#
# Usage: model/recipe/tune_lm.sh MODEL [LM] [--beam N] [--weights "0.3 0.5 ..."] [--bonuses "..."]
#                                  [--unks "-6 -10 ..."]
#   Decodes cathy/dev and fsdd/dev ($ASRD_SHARED/corpus) with `asrd --batch --decoder beam` for every
#   (weight, bonus, unk penalty) triple and prints one line per triple: weight bonus unk cathyWER
#   fsddWER sumWER RTF, after the greedy baseline, then the best triple by cathy WER + fsdd WER (ties:
#   the smaller weight). LM defaults to $ASRD_DATA/lm/asrd-en.lmbin (model/recipe/lm.sh). Dev sets only: never
#   tune on test data. Results also go to $ASRD_DATA/lm/tune.tsv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
export ASRD_DATA=${ASRD_DATA:-data}
ASRD_SHARED=${ASRD_SHARED:-$root/../shared}
ASRD=${ASRD:-build/asrd}
[ $# -ge 1 ] || { sed -n '2,10p' "$0"; exit 2; }
model=$1; shift
lm=$ASRD_DATA/lm/asrd-en.lmbin
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then lm=$1; shift; fi
beam=16 weights="0 0.3 0.5 0.8 1.2" bonuses="0 1 2 3 4 5" unks=-6
while [ $# -gt 0 ]; do
    case $1 in
    --beam) beam=$2; shift 2 ;;
    --weights) weights=$2; shift 2 ;;
    --bonuses) bonuses=$2; shift 2 ;;
    --unks) unks=$2; shift 2 ;;
    *) echo "tune_lm.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -s "$lm" ] || { echo "tune_lm.sh: no LM at $lm (model/recipe/lm.sh)" >&2; exit 1; }
sets=("$ASRD_SHARED/corpus/cathy/dev.tsv" "$ASRD_SHARED/corpus/fsdd/dev.tsv")
secs=0
for s in "${sets[@]}"; do
    [ -s "$s" ] || { echo "tune_lm.sh: $s missing" >&2; exit 1; }
done
audio_sec() { # total seconds of a manifest's audio
    local d; d=$(dirname "$1")
    cut -f1 "$1" | (cd "$d" && xargs soxi -D 2>/dev/null) | awk '{s+=$1} END {printf "%.3f", s}'
}
total=0
for s in "${sets[@]}"; do total=$(echo "$total + $(audio_sec "$s")" | bc -l); done
run() { # decoder args... -> "cathyWER fsddWER RTF"
    local t0 t1 w=() 
    t0=$(date +%s.%N)
    for s in "${sets[@]}"; do
        w+=("$("$ASRD" --batch --model "$model" --manifest "$s" --score --no-progress "$@" 2>/dev/null |
            tail -1 | sed -n 's/^WER \([0-9.]*\)%.*/\1/p')")
    done
    t1=$(date +%s.%N)
    echo "${w[0]} ${w[1]} $(echo "($t1 - $t0) / $total" | bc -l | xargs printf '%.4f')"
}
out=$ASRD_DATA/lm/tune.tsv
mkdir -p "$(dirname "$out")"
echo -e "weight\tbonus\tunk\tcathy_wer\tfsdd_wer\tsum\trtf" | tee "$out"
read -r gc gf gr < <(run --decoder greedy)
echo -e "greedy\t-\t-\t$gc\t$gf\t$(echo "$gc + $gf" | bc -l)\t$gr" | tee -a "$out"
for w in $weights; do
    for b in $bonuses; do
        for u in $unks; do
            read -r c f r < <(run --lm "$lm" --beam "$beam" --lm-weight "$w" --word-bonus "$b" --unk-penalty "$u")
            echo -e "$w\t$b\t$u\t$c\t$f\t$(echo "$c + $f" | bc -l)\t$r" | tee -a "$out"
        done
    done
done
best=$(tail -n +3 "$out" | sort -t$'\t' -k6,6g -k1,1g | head -1)
echo "best (weight bonus unk cathy fsdd sum rtf): $best"
