#!/bin/bash
# train.sh - train an asrd model from a config (`make model`, `make model-quick`).
#
# Usage: model/recipe/train.sh CONFIG [--fresh] [--continue] [--install] [--outdir DIR] [asr-train options...]
#   Runs build/asr-train from the repository root. If OUTDIR/checkpoint.bin exists the run is
#   resumed (pieces of at most max_hours each; run the command again to continue) unless --fresh
#   is given (the old run folder is moved aside). --continue first restores a committed
#   model/checkpoint/NAME.ckpt.gz when the run folder has no checkpoint (carrying a run in progress
#   to another machine; none is committed now: the shipped model's run finished). --install copies OUTDIR/best.model to
#   model/asrd-en.model afterwards. Needs the corpus manifests (`make corpus` first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
[ $# -ge 1 ] || { sed -n '2,9p' "$0"; exit 2; }
config=$1; shift
fresh=0 install=0 continue=0 outdir= extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --fresh) fresh=1; shift ;;
    --install) install=1; shift ;;
    --continue) continue=1; shift ;;
    --outdir) outdir=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
    esac
done
export ASRD_DATA=${ASRD_DATA:-data}
export ASRD_SHARED=${ASRD_SHARED:-$root/../shared}
[ -f "$config" ] || { echo "train.sh: no config $config" >&2; exit 2; }
[ -x build/asr-train ] || { echo "train.sh: build/asr-train missing (make build/asr-train)" >&2; exit 2; }

# The manifests the config names must exist: the trainer checks too, but say what to do.
for m in "$ASRD_DATA/corpus/real-aug.tsv" "$ASRD_DATA/corpus/synth.tsv"; do
    if grep -q "$(basename "$m")" "$config" && [ ! -s "$m" ]; then
        echo "train.sh: $m is missing: run make corpus first" >&2
        exit 1
    fi
done
for m in "$ASRD_SHARED/corpus/cathy/train.tsv" "$ASRD_SHARED/corpus/fsdd/train.tsv"; do
    [ -s "$m" ] || { echo "train.sh: $m is missing (set ASRD_SHARED to the folder holding corpus/)" >&2; exit 1; }
done

if [ -z "$outdir" ]; then
    # the config's outdir, with the same environment expansion the trainer does
    outdir=$(sed -n 's/^outdir:[[:space:]]*//p' "$config" | sed 's/[[:space:]]*#.*//' | head -1)
    outdir=$(eval echo "\"$outdir\"")
fi
args=(--config "$config" --outdir "$outdir")
# A run in progress is carried between machines as a committed checkpoint (model/checkpoint/NAME.ckpt.gz,
# NAME = the config's file name without train- and .yaml): restored when the run folder has none.
name=$(basename "$config" .yaml); name=${name#train-}
saved=model/checkpoint/$name.ckpt.gz
if [ $continue = 1 ] && [ ! -f "$outdir/checkpoint.bin" ]; then
    [ -f "$saved" ] || { echo "train.sh: --continue: no $saved" >&2; exit 1; }
    mkdir -p "$outdir"
    gunzip -c "$saved" > "$outdir/checkpoint.bin.tmp" && mv "$outdir/checkpoint.bin.tmp" "$outdir/checkpoint.bin"
    echo "train.sh: restored $saved into $outdir" >&2
fi
if [ -f "$outdir/checkpoint.bin" ]; then
    if [ $fresh = 1 ]; then
        old="$outdir.old-$(date +%Y%m%d-%H%M%S)"
        mv "$outdir" "$old"
        echo "train.sh: previous run moved to $old" >&2
    else
        echo "train.sh: resuming $outdir (use --fresh to start over)" >&2
        args=(--config "$config" --resume "$outdir")
    fi
fi
. "$here/blas_env.sh"
mkdir -p "$outdir"
start=$(date +%s)
set +e
build/asr-train "${args[@]}" "${extra[@]}" 2>&1 | tee -a "$outdir/train.out"
rc=${PIPESTATUS[0]}
set -e
echo "train.sh: asr-train exited $rc after $(( ($(date +%s) - start) / 60 )) min; outputs in $outdir" >&2
[ $rc = 0 ] || exit $rc
if [ $install = 1 ]; then
    [ -f "$outdir/best.model" ] || { echo "train.sh: no $outdir/best.model" >&2; exit 1; }
    cp "$outdir/best.model" model/asrd-en.model
    echo "train.sh: installed $outdir/best.model as model/asrd-en.model" >&2
fi
