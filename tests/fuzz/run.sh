#!/bin/bash
# run.sh - drives the libFuzzer harnesses built by `make fuzz-build` (build/fuzz/bin/NAME, one per
# tests/fuzz/NAME.c).
#   run.sh replay [NAME...]        runs every seed (tests/fuzz/corpus/NAME/) and every kept crash
#                                  reproducer (tests/fuzz/crashes/NAME/) once through its harness
#   run.sh short RUNS [NAME...]    fuzzes each harness for RUNS executions from its seeds, with a fixed
#                                  seed (-seed=1), new inputs in a temporary directory
#   run.sh long SECONDS [NAME...]  replays, then fuzzes each harness for SECONDS; new inputs are kept
#                                  in build/fuzz/corpus/NAME (the next long run starts from them), a
#                                  crash is written to build/fuzz/crashes/NAME/ (copy it into
#                                  tests/fuzz/crashes/NAME/ with its fix); prints executions and
#                                  coverage per harness
# Each harness prints "ok: ..." or "FAIL: ..." lines; the run ends with "N passed, N failed" and a
# non-zero status when any failed. Harnesses run one at a time.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
mode=${1:-}
shift || true
case "$mode" in
replay) arg= ;;
short | long) arg=${1:?"run.sh $mode needs a number"}; shift ;;
*) echo "usage: tests/fuzz/run.sh replay|short RUNS|long SECONDS [NAME...]" >&2; exit 2 ;;
esac
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for s in tests/fuzz/*.c; do names+=("$(basename "$s" .c)"); done
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Common libFuzzer options: a slow input (10 s) or 2 GB of memory is a failure; UBSan stops at the
# first report (the harnesses are built with -fno-sanitize-recover=undefined); ASan checks leaks.
OPTS=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0

replay() {
    local n=$1 bin=build/fuzz/bin/$1
    local files=()
    mapfile -t files < <(find "tests/fuzz/corpus/$n" "tests/fuzz/crashes/$n" -type f 2>/dev/null | sort)
    if [ ${#files[@]} -eq 0 ]; then
        bad "$n: no seeds in tests/fuzz/corpus/$n"
        return
    fi
    if "$bin" "${OPTS[@]}" "${files[@]}" >"$T/$n.replay" 2>&1; then
        ok "$n: replayed ${#files[@]} inputs ($(find "tests/fuzz/crashes/$n" -type f 2>/dev/null | wc -l) crash reproducers)"
    else
        bad "$n: replay failed:"
        grep -E 'ERROR|runtime error|Running:|SUMMARY' "$T/$n.replay" | tail -8
    fi
}

# stats FILE: "N executions in S s, cov C, ft F, corpus K"
stats() {
    local runs secs cov ft units
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -1)
    secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$1" | tail -1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$1" | tail -1 | cut -d' ' -f2)
    units=$(grep -oE 'corp: [0-9]+' "$1" | tail -1 | cut -d' ' -f2)
    echo "${runs:-?} executions (${secs:-?}/s), cov ${cov:-?} edges, ft ${ft:-?} features, corpus ${units:-?}"
}

fuzz() {
    local n=$1 bin=build/fuzz/bin/$1 out art extra
    if [ "$mode" = short ]; then
        out="$T/corpus-$n"
        art="$T/crash-$n"
        extra=(-runs="$arg" -seed=1)
    else
        out="build/fuzz/corpus/$n"
        art="build/fuzz/crashes/$n"
        extra=(-max_total_time="$arg")
    fi
    mkdir -p "$out" "$art"
    if "$bin" "${OPTS[@]}" "${extra[@]}" -artifact_prefix="$art/" "$out" "tests/fuzz/corpus/$n" \
        >"$T/$n.fuzz" 2>&1; then
        ok "$n: $(stats "$T/$n.fuzz")"
    else
        if [ "$mode" = short ]; then # keep the input where a long run would have put it
            mkdir -p "build/fuzz/crashes/$n" && cp "$art"/* "build/fuzz/crashes/$n/" 2>/dev/null
        fi
        bad "$n: fuzzing found a failure ($(stats "$T/$n.fuzz")); input kept in build/fuzz/crashes/$n/:"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$T/$n.fuzz" | tail -8
    fi
}

for n in "${names[@]}"; do
    [ -x "build/fuzz/bin/$n" ] || { bad "$n: build/fuzz/bin/$n missing (make fuzz-build)"; continue; }
    case "$mode" in
    replay) replay "$n" ;;
    short) fuzz "$n" ;;
    long) replay "$n"; fuzz "$n" ;;
    esac
done
finish
