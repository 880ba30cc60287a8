#!/bin/bash
# train.sh - `make bench-train`: trainer throughput of asr-train beside a PyTorch reference on the
# same batches. The architecture and data are train-default.yaml's (3 x 320 GRU, 40-d MFCC stacked
# x3 stride 3, batch 32) on the real speech only (cathy + fsdd train, so no corpus build is needed):
# asr-train --dump-batches writes the first BATCHES batches of epoch 0 (features, lengths, labels);
# tests/bench/torch_train_ref.py (2 threads) and asr-train --train-dump (2 threads) then train for
# STEPS updates on them; both print audio seconds per second, and this script prints the ratio.
# Usage: tests/bench/train.sh [STEPS (30)] [BATCHES (20)]
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-30} nb=${2:-20}
export ASRD_DATA=${ASRD_DATA:-data}
export ASRD_SHARED=${ASRD_SHARED:-$(cd .. && pwd)/shared}
PY=/usr/bin/python3
. model/recipe/blas_env.sh   # both trainers get the same OpenBLAS kernels
T=$(mktemp -d /tmp/bench-train.XXXXXX)
trap 'rm -rf "$T"' EXIT
# train-default.yaml with the real-speech manifests only
awk '!/corpus\/(real-aug|synth)\.tsv/' configs/train-default.yaml > "$T/bench.yaml"
echo "== dumping $nb batches of real features (feature cache: $ASRD_DATA/cache)"
build/asr-train --config "$T/bench.yaml" --dump-batches "$T/batches.bin" --dump-count "$nb" | tail -1
echo "== PyTorch $($PY -c 'import torch; print(torch.__version__)') reference, $steps steps, 2 threads"
$PY tests/bench/torch_train_ref.py "$T/batches.bin" --steps "$steps" --threads 2 --lr 0.0015 | tee "$T/torch.out" | tail -1
echo "== asr-train, $steps steps, 2 threads"
build/asr-train --config "$T/bench.yaml" --train-dump "$T/batches.bin" --max-updates "$steps" --threads 2 |
    tee "$T/ours.out" | tail -1
t=$(sed -nE 's/.*: ([0-9.]+) audio s\/s.*/\1/p' "$T/torch.out" | tail -1)
o=$(sed -nE 's/.*: ([0-9.]+) audio s\/s.*/\1/p' "$T/ours.out" | tail -1)
awk -v t="$t" -v o="$o" 'BEGIN { printf "bench-train: asr-train %.1f audio s/s, PyTorch %.1f audio s/s, ratio %.2fx\n", o, t, o / t }'
