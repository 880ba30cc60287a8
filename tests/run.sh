#!/bin/bash
# Runs every unit test (normal and ASan/UBSan builds) and every end-to-end script tests/e2e_*.sh.
# Each unit test ends with "N passed, N failed"; each e2e script does too. Exit status is non-zero
# if anything failed. Usage: tests/run.sh [name-filter]
# Every test runs under a time limit, so that a hang fails instead of stalling CI: a script's own
# "# test-timeout: SECONDS" line, else $ASRD_TEST_TIMEOUT, else 900 s for a unit test and 1800 s for
# an end-to-end script. timeout(1) signals the test's whole process group (daemons and clients it
# started too): TERM at the limit, KILL 10 s later.
set -u
cd "$(dirname "$0")/.."
filter="${1:-}"
# The shared speech corpus (../shared/corpus next to the checkout); a clone elsewhere falls back to
# /work/shared. Tests that use real speech read $ASRD_SHARED.
if [ -z "${ASRD_SHARED:-}" ]; then
    for d in "$PWD/../shared" /work/shared; do
        [ -d "$d/corpus" ] && { ASRD_SHARED=$(cd "$d" && pwd); break; }
    done
fi
export ASRD_SHARED=${ASRD_SHARED:-$PWD/../shared}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
total_pass=0; total_fail=0; failed=()
# limit_of FILE DEFAULT: the time limit of a test (see above)
limit_of() {
    local n
    n=$(sed -n 's/^# test-timeout: *\([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null | head -1)
    echo "${n:-${ASRD_TEST_TIMEOUT:-$2}}"
}
# run_one NAME LIMIT CMD...
run_one() {
    local name="$1" limit="$2"; shift 2
    local log; log=$(mktemp)
    local start=$SECONDS
    timeout -k 10 "$limit" "$@" >"$log" 2>&1 </dev/null
    local rc=$?
    local summary; summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    local p f
    p=$(echo "$summary" | sed -nE 's/^([0-9]+) passed.*/\1/p'); p=${p:-0}
    f=$(echo "$summary" | sed -nE 's/.* ([0-9]+) failed.*/\1/p'); f=${f:-0}
    if [ $rc -eq 124 ] || { [ $rc -eq 137 ] && [ $((SECONDS - start)) -ge "$limit" ]; }; then
        [ "$f" = 0 ] && f=1
        failed+=("$name")
        echo "FAIL $name (timed out after $limit s; killed): ${summary:-no summary line}"
        sed 's/^/    | /' "$log" | tail -40
    elif [ $rc -ne 0 ] || [ -z "$summary" ] || [ "$f" != 0 ]; then
        [ "$f" = 0 ] && f=1
        failed+=("$name")
        echo "FAIL $name (exit $rc, $((SECONDS-start)) s): ${summary:-no summary line}"
        sed 's/^/    | /' "$log" | tail -40
    else
        echo "ok   $name ($((SECONDS-start)) s): $summary"
    fi
    total_pass=$((total_pass+p)); total_fail=$((total_fail+f))
    rm -f "$log"
}
for t in build/tests/test_* build/asan/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue;; esac
    [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
    run_one "$t" "${ASRD_TEST_TIMEOUT:-900}" "$t"
done
for s in tests/e2e_*.sh; do
    [ -f "$s" ] || continue
    [ -n "$filter" ] && [[ "$s" != *"$filter"* ]] && continue
    run_one "$s" "$(limit_of "$s" 1800)" bash "$s"
done
echo "----"
echo "$total_pass passed, $total_fail failed"
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
