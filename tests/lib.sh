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
#   e2e_tmp [netns]      the daemon tests' preamble: T=$(mktemp -d), PIDS=(), DPID= and an EXIT trap
#                        (e2e_cleanup) that kills every pid in PIDS (SIGKILL: a hung daemon must not
#                        hold the exit), waits, removes the namespace and T (kept, and said so, when
#                        KEEP_T is set); with `netns`, netns_make first (a note when none can be
#                        made: the daemons then listen on the machine's 127.0.0.1)
#   asrd_start NAME ARGS...  starts the daemon "$ASRD" ARGS... in the background (inside "${IN[@]}"
#                        when netns_make made one; stdin from ${STDIN:-/dev/null}, stdout in
#                        $T/NAME.out, stderr, its log, in $T/NAME.log), sets DPID (also appended to
#                        PIDS) and waits for its "listening on URL" line: PORT is the URL's port and
#                        0 is returned; if the daemon exits first or ${ASRD_START_WAIT:-20} s pass,
#                        PORT is empty, START_ERR says "daemon NAME did not start: <log tail>" and
#                        1 is returned (nothing counted: a start meant to fail is a pass for some
#                        callers). Pass --listen 127.0.0.1:0 (or another port) in ARGS.
#                        ASRD_LOG=FILE: the daemon logs to FILE (log.file), read for the line too.
#   need_bins FILE...    each FILE must be an executable: else "missing FILE (run make first)" is a
#                        failure and the script finishes
#   asrd_port FILE...    the port of the first "listening on URL" line in FILE... (empty if none)
pass=0
fail=0
skipped=0
ok() { pass=$((pass + 1)); [ $# -eq 0 ] || echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP: $*"; }
check() { local d="$1"; shift; if "$@"; then ok; else bad "$d"; fi; }
need_bins() {
    local b
    for b in "$@"; do
        [ -x "$b" ] || { bad "missing $b (run make first)"; finish; }
    done
}
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
asrd_port() {
    sed -n 's/.*listening on [a-z]*:\/\/[^ ]*:\([0-9]*\)\/.*/\1/p' "$@" 2>/dev/null | head -1
}
asrd_start() {
    local name=$1 i
    shift
    : >"$T/$name.log" # exists before the daemon opens it: the wait below reads it
    ${IN[@]+"${IN[@]}"} "$ASRD" "$@" <"${STDIN:-/dev/null}" >"$T/$name.out" 2>"$T/$name.log" &
    DPID=$!
    PIDS+=("$DPID")
    PORT=
    for ((i = 0; i < ${ASRD_START_WAIT:-20} * 20; i++)); do
        PORT=$(asrd_port "$T/$name.log" ${ASRD_LOG:+"$ASRD_LOG"})
        [ -n "$PORT" ] && return 0
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.05
    done
    START_ERR="daemon $name did not start: $(tail -5 "$T/$name.log")"
    return 1
}
e2e_tmp() {
    T=$(mktemp -d)
    PIDS=()
    DPID=
    trap e2e_cleanup EXIT
    if [ "${1:-}" = netns ]; then
        netns_make || echo "note: no network namespace ($NETNS_ERR): the daemons listen on 127.0.0.1"
    fi
    return 0
}
e2e_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    netns_del
    if [ -n "${KEEP_T:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
