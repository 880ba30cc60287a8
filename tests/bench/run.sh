#!/bin/bash
# make bench: speed, memory and accuracy of asrd beside pocketsphinx (see tests/bench/README.md).
# Builds the helper programs, then runs tests/bench/bench.py, which prints a table and writes
# build/bench/results.tsv. Extra arguments go to bench.py (e.g. --repeat 1 --sets synth).
# Environment: BENCH_REPEAT (timed runs per system and set, default 3), BENCH_SETS.
set -u
cd "$(dirname "$0")/../.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
. model/recipe/blas_env.sh   # the sgemm peak with the CPU's own OpenBLAS kernels, not the SSE3 fallback

# Helpers. measure and sgemm_peak need nothing of asrd; model_flops, score and tool_mkmodel need
# parts of the library that may still be missing: the bench says what it had to skip.
for t in build/tests/bench/measure build/tests/bench/sgemm_peak build/tests/bench/model_flops \
         build/tests/bench/score build/tests/tool_mkmodel; do
    src="tests/${t#build/tests/}.c"
    [ -f "$src" ] || continue
    if ! log=$(make -s "$t" 2>&1); then
        echo "bench: could not build $t:" >&2
        echo "$log" | tail -3 | sed 's/^/    /' >&2
    fi
done
[ -x build/tests/bench/measure ] || { echo "bench: build/tests/bench/measure is required" >&2; exit 1; }
[ -x build/asrd ] || echo "bench: build/asrd missing: pocketsphinx only" >&2
exec /usr/bin/python3 tests/bench/bench.py "$@"
