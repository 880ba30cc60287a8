#!/bin/bash
# CTC loss and gradient (model/train/ctc.c, driven through build/tests/test_ctc --cases) against
# torch.nn.functional.ctc_loss (reduction='sum', zero_infinity=False) and autograd wrt the logits,
# on random cases: L = 0 and 1, repeated labels, T exactly minimal, infeasible, blank-heavy T >> L.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! $PY -c 'import torch' 2>/dev/null; then
    echo "torch missing for $PY (install python3-torch)"; echo "0 passed, 1 failed"; exit 1
fi
[ -x build/tests/test_ctc ] || make -s build/tests/test_ctc >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$PY tests/torch_ctc_ref.py gen "$dir/cases.txt" || { echo "0 passed, 1 failed"; exit 1; }
build/tests/test_ctc --cases "$dir/cases.txt" --out "$dir/ours.txt" || { echo "0 passed, 1 failed"; exit 1; }
$PY tests/torch_ctc_ref.py compare "$dir/cases.txt" "$dir/ours.txt"
