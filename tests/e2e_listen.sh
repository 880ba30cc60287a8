#!/bin/bash
# e2e_listen.sh - the daemon listens on exactly the configured address, and a listen address it
# cannot use is a start-up error. Runs every daemon inside a network namespace of its own (only a
# loopback interface: nothing started here is reachable from outside, and fixed ports are free), with
# a NOTIFY_SOCKET of the test's own, and reads what is bound with `ss -ltnH`:
#  - 127.0.0.1, [::1], localhost (exactly the addresses the name resolves to), a name with an IPv4
#    and an IPv6 address (the namespace's own /etc/hosts; port 0 too: one port for both), 0.0.0.0,
#    [::] (IPv6 only) and * (every interface): exactly those sockets; /healthz answers on them,
#    and the other loopback family is refused; the built-in default and the shipped configuration:
#    127.0.0.1:2700 only
#  - a name that does not resolve, 256.1.1.1, an address not on this host, a port in use: exit
#    non-zero with an error naming the address, no READY=1, no "listening on" line, nothing bound
# Without network namespaces (not root, no `ip netns`) it says so and skips; it never binds outside one.
# Ends with "N passed, N failed".
# test-timeout: 180
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$ASRD" "$MK"
T=$(mktemp -d)
cleanup() {
    netns_del
    rm -rf "$T"
}
trap cleanup EXIT
if ! netns_make; then
    skip "cannot make a network namespace ($NETNS_ERR): listening tests need one"
    finish
fi
# The namespace's own /etc/hosts (ip netns exec mounts /etc/netns/NS/hosts there): a name with an
# IPv4 and an IPv6 address, so that one name means two listening sockets.
HOSTS=0
if mkdir -p "/etc/netns/$NS" 2>/dev/null &&
    printf '127.0.0.1 localhost\n127.0.0.1 asrd-both\n::1 asrd-both\n' >"/etc/netns/$NS/hosts"; then
    HOSTS=1
fi
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }

# run.py LISTEN_ARGS...: starts asrd with a NOTIFY_SOCKET; once READY=1 (or exit, or 8 s) prints
# "ready 0|1", the bound addresses ("bound ADDR" per `ss -ltnH` line), "http ADDR:PORT CODE" for
# GET /healthz on 127.0.0.1 and [::1] at the port asked for, then SIGTERMs it; "rc N" last.
cat >"$T/run.py" <<'EOF'
import os, signal, socket, subprocess, sys, time
tmp, port, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
path = os.path.join(tmp, "notify.sock")
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path); s.settimeout(0.1)
env = dict(os.environ, NOTIFY_SOCKET=path)
p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
ready, t0 = False, time.time()
while time.time() - t0 < 8 and not ready and p.poll() is None:
    try:
        ready = "READY=1" in s.recv(4096).decode()
    except socket.timeout:
        pass
print("ready", int(ready))
if ready:
    for l in subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.splitlines():
        print("bound", l.split()[3])
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        c = socket.socket(fam, socket.SOCK_STREAM); c.settimeout(3)
        try:
            c.connect((host, port)); c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            code = c.recv(100).split(b" ")[1].decode()
        except OSError as e:
            code = "refused" if isinstance(e, ConnectionRefusedError) else "error:%s" % e
        print("http", host, code)
        c.close()
    p.send_signal(signal.SIGTERM)
try:
    p.wait(15)
except subprocess.TimeoutExpired:
    p.kill(); p.wait()
print("rc", p.returncode)
if not ready:  # anything bound without READY is a failure too
    for l in subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.splitlines():
        print("bound", l.split()[3])
EOF
# run PORT ARGS...: output in $T/r, daemon log in $T/log
run() { local port=$1; shift; "${IN[@]}" $PY "$T/run.py" "$T" "$port" "$ASRD" "$@" >"$T/r" 2>&1; }
bound() { sed -n 's/^bound //p' "$T/r" | sort | tr '\n' ' ' | sed 's/ $//'; }
http() { sed -n "s/^http $1 //p" "$T/r"; }

# listens: WHAT PORT EXPECTED_BOUND V4_CODE V6_CODE ARGS...
listens() {
    local what=$1 port=$2 want=$3 v4=$4 v6=$5; shift 5
    run "$port" --model "$T/m.model" "$@"
    if ! grep -q '^ready 1' "$T/r"; then
        bad "$what: no READY=1 ($(tail -3 "$T/log" | tr '\n' ' '))"
        return
    fi
    check "$what: bound exactly '$want' (ss: '$(bound)')" [ "$(bound)" = "$want" ]
    check "$what: /healthz on 127.0.0.1 -> $v4 (got $(http 127.0.0.1))" [ "$(http 127.0.0.1)" = "$v4" ]
    check "$what: /healthz on ::1 -> $v6 (got $(http ::1))" [ "$(http ::1)" = "$v6" ]
    check "$what: exit 0 after SIGTERM ($(grep '^rc' "$T/r"))" grep -q '^rc 0$' "$T/r"
}
listens "127.0.0.1" 2701 "127.0.0.1:2701" 200 refused --listen 127.0.0.1:2701
listens "[::1]" 2702 "[::1]:2702" refused 200 --listen '[::1]:2702'
# localhost: every address the name has here (only those this namespace has: 127.0.0.1, ::1)
want=$("${IN[@]}" getent ahosts localhost | awk '$2 == "STREAM" {print $1}' | sort -u |
    sed -e 's/^\(.*:.*\)$/[\1]/' -e 's/$/:2703/' | sort | tr '\n' ' ' | sed 's/ $//')
v4=refused; v6=refused
case " $want " in *" 127.0.0.1:2703 "*) v4=200;; esac
case " $want " in *" [::1]:2703 "*) v6=200;; esac
listens "localhost ($want)" 2703 "$want" $v4 $v6 --listen localhost:2703
if [ $HOSTS = 1 ]; then
    listens "a name with an IPv4 and an IPv6 address" 2707 "127.0.0.1:2707 [::1]:2707" 200 200 --listen asrd-both:2707
    # port 0: both addresses on the one port the kernel picked, and the log names both URLs
    run 0 --model "$T/m.model" --listen asrd-both:0
    p4=$(sed -n 's/^bound 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/r"); p6=$(sed -n 's/^bound \[::1\]:\([0-9]*\)$/\1/p' "$T/r")
    check "a name with two addresses, port 0: one port for both ('$(bound)')" [ -n "$p4" -a "$p4" = "$p6" ]
    check "a name with two addresses, port 0: the log names both URLs" \
        grep -q "listening on http://127.0.0.1:$p4/ and http://\[::1\]:$p4/" "$T/log"
else
    skip "cannot write /etc/netns/$NS/hosts: a name with two addresses not tried"
fi
listens "0.0.0.0" 2704 "0.0.0.0:2704" 200 refused --listen 0.0.0.0:2704
listens "[::] (IPv6 only)" 2705 "[::]:2705" refused 200 --listen '[::]:2705'
listens "* (every interface)" 2706 "*:2706" 200 200 --listen '*:2706'
listens "built-in default" 2700 "127.0.0.1:2700" 200 refused
listens "shipped configs/asrd.yaml" 2700 "127.0.0.1:2700" 200 refused --config configs/asrd.yaml --decoder greedy

named() { grep -i error "$T/log" | grep -qF "$1"; }
# refuses: WHAT RC_WANT(any|N) NAMED_TEXT ARGS...
refuses() {
    local what=$1 rcw=$2 named=$3; shift 3
    run 0 --model "$T/m.model" "$@"
    local rc; rc=$(sed -n 's/^rc //p' "$T/r")
    check "$what: no READY=1" grep -q '^ready 0' "$T/r"
    if [ "$rcw" = any ]; then
        check "$what: exit non-zero (rc $rc)" [ -n "$rc" ] && [ "$rc" != 0 ]
    else
        check "$what: exit $rcw (rc $rc)" [ "$rc" = "$rcw" ]
    fi
    check "$what: an error names '$named' ($(grep -i error "$T/log" | tail -1))" named "$named"
    check "$what: never says 'listening on'" bash -c '! grep -q "listening on" "$1"' _ "$T/log"
    check "$what: nothing bound (ss: '$(bound)')" [ -z "$(bound)" ]
}
refuses "a name that does not resolve" 1 "nosuch.invalid:2710" --listen nosuch.invalid:2710
refuses "256.1.1.1" 2 "256.1.1.1" --listen 256.1.1.1:2711
refuses "127.1 (not a dotted quad)" 2 "127.1" --listen 127.1:2712
refuses "an unbracketed IPv6 address" 2 "::1" --listen ::1:2713
refuses "an address not on this host" 1 "192.0.2.1:2714" --listen 192.0.2.1:2714
refuses "an IPv6 address not on this host" 1 "[2001:db8::1]:2715" --listen '[2001:db8::1]:2715'
printf 'listen: "nosuch.invalid:2716"\n' >"$T/c.yaml"
refuses "listen: in the configuration file" 1 "nosuch.invalid:2716" --config "$T/c.yaml" --decoder greedy
# a port in use: another listener holds 127.0.0.1:2717
"${IN[@]}" $PY -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 2717)); s.listen()
time.sleep(30)' &
HOLD=$!
sleep 0.5
run 0 --model "$T/m.model" --listen 127.0.0.1:2717
rc=$(sed -n 's/^rc //p' "$T/r")
check "port in use: no READY=1" grep -q '^ready 0' "$T/r"
check "port in use: exit 1 (rc $rc)" [ "$rc" = 1 ]
check "port in use: error names the address and the reason ($(grep error "$T/log" | tail -1))" \
    grep -q "error: cannot listen on http://127.0.0.1:2717/: Address already in use" "$T/log"
check "port in use: never says 'listening on'" bash -c '! grep -q "listening on" "$1"' _ "$T/log"
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
finish
