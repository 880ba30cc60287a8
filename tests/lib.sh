# lib.sh - the pass/fail bookkeeping every tests/e2e_*.sh script shares (sourced, not run).
#   ok [what]            count a pass (prints "ok: what" when given)
#   bad what             count a failure and print "FAIL: what"
#   skip what            count a check that could not run here and print "SKIP: what" (never a pass)
#   check what cmd...    ok if cmd succeeds, else bad what
#   finish               print "N passed, N failed" (the line tests/run.sh reads; ", N skipped" after
#                        it when any were) and exit
#   netns_make           a network namespace of the script's own, only loopback (up): sets NS and
#                        IN=(ip netns exec NS); 1 with the reason in NETNS_ERR when none can be made
#                        (not root, no `ip`), IN=() then; netns_del removes it (call it at exit),
#                        and /etc/netns/NS (`ip netns exec` mounts /etc/netns/NS/hosts on /etc/hosts)
pass=0
fail=0
skipped=0
ok() { pass=$((pass + 1)); [ $# -eq 0 ] || echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP: $*"; }
check() { local d="$1"; shift; if "$@"; then ok; else bad "$d"; fi; }
finish() {
    echo "$pass passed, $fail failed$([ "$skipped" -eq 0 ] || echo ", $skipped skipped")"
    [ "$fail" -eq 0 ]
    exit $?
}
netns_make() {
    NS=asrd-test-$$-$RANDOM
    IN=()
    if ! NETNS_ERR=$({ ip netns add "$NS" && ip netns exec "$NS" ip link set lo up; } 2>&1); then
        ip netns del "$NS" 2>/dev/null
        NS=
        return 1
    fi
    IN=(ip netns exec "$NS")
}
netns_del() {
    [ -n "${NS:-}" ] || return 0
    ip netns del "$NS" 2>/dev/null
    rm -rf "/etc/netns/$NS" # a script's own /etc/hosts for the namespace, if it made one
    rmdir /etc/netns 2>/dev/null # only if nothing else is there
}
