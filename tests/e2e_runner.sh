#!/bin/bash
# e2e_runner.sh - tests/run.sh itself: a test that hangs fails instead of stalling the run. In a
# temporary tree holding a copy of run.sh and lib.sh and only fake tests: an end-to-end script that
# hangs (with a background child) under its own "# test-timeout: 3" line, a unit test binary that
# hangs under ASRD_TEST_TIMEOUT=3, a script and a unit test that pass. Checks: run.sh returns within
# 40 s with a non-zero status, names both hung tests as timed out, passes the good ones, and the
# hung script's background child is gone (timeout kills the whole process group).
# test-timeout: 120
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
T=$(mktemp -d)
trap 'kill $(cat "$T/child.pid" 2>/dev/null) 2>/dev/null; [ -n "${KEEP_T:-}" ] || rm -rf "$T"' EXIT
mkdir -p "$T/tree/tests" "$T/tree/build/tests"
cp "${RUN_SH:-tests/run.sh}" "$T/tree/tests/run.sh"   # RUN_SH: another run.sh to check
cp tests/lib.sh "$T/tree/tests/"
cat >"$T/tree/tests/e2e_hang.sh" <<EOF
# test-timeout: 3
sleep 300 &
echo \$! >"$T/child.pid"
sleep 300
echo "1 passed, 0 failed"
EOF
cat >"$T/tree/tests/e2e_good.sh" <<'EOF'
echo "2 passed, 0 failed"
EOF
printf '#!/bin/sh\nsleep 300\necho "1 passed, 0 failed"\n' >"$T/tree/build/tests/test_hang"
printf '#!/bin/sh\necho "3 passed, 0 failed"\n' >"$T/tree/build/tests/test_good"
chmod +x "$T/tree/build/tests/test_hang" "$T/tree/build/tests/test_good"

start=$SECONDS
ASRD_TEST_TIMEOUT=3 timeout -k 5 60 bash "$T/tree/tests/run.sh" >"$T/out" 2>&1
rc=$?
dt=$((SECONDS - start))
sed 's/^/    | /' "$T/out"
check "run.sh returned within 40 s ($dt s, rc $rc)" [ $dt -le 40 -a $rc -ne 124 ]
check "run.sh failed (rc $rc)" [ $rc -ne 0 ]
check "the hung script failed as timed out (its own 3 s limit)" grep -q "^FAIL tests/e2e_hang.sh (timed out after 3 s" "$T/out"
check "the hung unit test failed as timed out (ASRD_TEST_TIMEOUT)" \
    grep -q "^FAIL build/tests/test_hang (timed out after 3 s" "$T/out"
check "the good script passed" grep -q "^ok   tests/e2e_good.sh" "$T/out"
check "the good unit test passed" grep -q "^ok   build/tests/test_good" "$T/out"
check "the totals count the good tests' passes" grep -q "^5 passed, 2 failed" "$T/out"
# gone: the child is not running (no process, or a zombie its new parent has not reaped yet)
gone() {
    local pid; pid=$(cat "$T/child.pid" 2>/dev/null)
    [ -n "$pid" ] && { [ ! -e "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; }
}
for _ in $(seq 20); do gone && break; sleep 0.1; done
check "the hung script's background child is gone" gone
finish
