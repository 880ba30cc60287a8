#!/bin/bash
# e2e_fuzz.sh - the libFuzzer harnesses of tests/fuzz/ (make fuzz-build): every seed and every kept
# crash reproducer replayed through its harness (a fixed bug that comes back fails here), then each
# harness fuzzed for FUZZ_RUNS executions (default 2000, fixed -seed=1) from its seeds. Any sanitizer
# report (ASan, UBSan, LeakSanitizer), crash, 10 s input or 2 GB of memory is a failure; the input is
# kept in build/fuzz/crashes/NAME/. Long runs: make fuzz FUZZ_SECONDS=600.
# test-timeout: 900
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
names=()
for s in tests/fuzz/*.c; do names+=("$(basename "$s" .c)"); done
[ ${#names[@]} -ge 6 ] || bad "expected at least 6 harnesses in tests/fuzz/, found ${#names[@]}"
for n in "${names[@]}"; do
    [ -x "build/fuzz/bin/$n" ] || { bad "build/fuzz/bin/$n missing (run make fuzz-build)"; finish; }
done
# tests/fuzz/run.sh prints ok:/FAIL: lines and its own summary: count them here.
count() {
    local line
    while IFS= read -r line; do
        case "$line" in
        ok:*) ok "${line#ok: }" ;;
        FAIL:*) bad "${line#FAIL: }" ;;
        *passed,*failed*) ;;
        *) echo "    $line" ;;
        esac
    done
}
count < <(tests/fuzz/run.sh replay "${names[@]}")
count < <(tests/fuzz/run.sh short "${FUZZ_RUNS:-2000}" "${names[@]}")
finish
