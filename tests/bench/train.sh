#!/bin/bash
# train.sh - `make bench-train`: trainer throughput of asr-train beside a PyTorch reference on the
# same batches. The architecture and data are those of CONFIG (default configs/train-default.yaml,
# the shipped 3 x 276 LSTM; configs/train-gru.yaml is the 3 x 320 GRU the issue's PyTorch figure is
# for), 40-d MFCC stacked x3 stride 3, batch 32, on the real speech only (cathy + fsdd train, so no corpus build is needed):
# asr-train --dump-batches writes the first BATCHES batches of epoch 0 (features, lengths, labels);
# tests/bench/torch_train_ref.py (2 threads) and asr-train --train-dump (2 threads) then train for
# STEPS updates on them; both print audio seconds per second, and this script prints the ratio.
# Usage: tests/bench/train.sh [STEPS (30)] [BATCHES (20)] [CONFIG]
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-30} nb=${2:-20} config=${3:-configs/train-default.yaml}
export ASRD_DATA=${ASRD_DATA:-data}
export ASRD_SHARED=${ASRD_SHARED:-$(cd .. && pwd)/shared}
PY=/usr/bin/python3
. model/recipe/blas_env.sh   # both trainers get the same OpenBLAS kernels
T=$(mktemp -d /tmp/bench-train.XXXXXX)
trap 'rm -rf "$T"' EXIT
# CONFIG with the real-speech manifests only
awk '!/corpus\/(real-aug|synth)\.tsv/' "$config" > "$T/bench.yaml"
# the model section's type, layers and hidden, for the PyTorch model
arch() { sed -n '/^model:/,/^[a-z]/s/^  '"$1"': *\([a-z0-9]*\).*/\1/p' "$config" | head -1; }
type=$(arch type) layers=$(arch layers) hidden=$(arch hidden)
echo "== dumping $nb batches of real features (feature cache: $ASRD_DATA/cache)"
build/asr-train --config "$T/bench.yaml" --dump-batches "$T/batches.bin" --dump-count "$nb" | tail -1
echo "== PyTorch $($PY -c 'import torch; print(torch.__version__)') reference, $layers x $hidden $type, $steps steps, 2 threads"
$PY tests/bench/torch_train_ref.py "$T/batches.bin" --steps "$steps" --threads 2 --lr 0.0015 \
    --type "$type" --layers "$layers" --hidden "$hidden" | tee "$T/torch.out" | tail -1
echo "== asr-train, $steps steps, 2 threads"
build/asr-train --config "$T/bench.yaml" --train-dump "$T/batches.bin" --max-updates "$steps" --threads 2 |
    tee "$T/ours.out" | tail -1
t=$(sed -nE 's/.*: ([0-9.]+) audio s\/s.*/\1/p' "$T/torch.out" | tail -1)
o=$(sed -nE 's/.*: ([0-9.]+) audio s\/s.*/\1/p' "$T/ours.out" | tail -1)
awk -v t="$t" -v o="$o" 'BEGIN { printf "bench-train: asr-train %.1f audio s/s, PyTorch %.1f audio s/s, ratio %.2fx\n", o, t, o / t }'
