#!/bin/bash
# e2e_scaleout.sh - several asrd instances behind HAProxy (issue 14), loopback only: three real
# daemons (the shipped model, configs/asrd.yaml with its port, one worker each and shutdown.drain_s 10)
# and Debian's haproxy running configs/haproxy.cfg itself (only the log target, the stats socket, the
# bind address and the server lines are rewritten for the test's ports), real Vosk-protocol clients
# (tests/ws_client.py sessions, sixty at once from one process by tests/ws_many.py) sending real
# speech (cathy dev recordings from the shared corpus; tests/data/sample.flac and espeak-ng without it).
#  - haproxy -c on the shipped config; systemd-analyze verify on the template unit asrd@.service,
#    whose hardening is asrd.service's line for line
#  - /healthz is 503 "full" while limits.max_sessions are open, and asrd_ready says the same
#  - 60 clients through HAProxy: every backend gets sessions (its own /metrics), every transcript
#    equals `asrd --batch --config` of the same file
#  - SIGTERM to one backend while 20 clients stream: each of its clients gets a final result and
#    close 1001 and, reconnecting, its whole transcript from another backend; the others finish
#    normally; the drained backend answers /healthz and upgrades with 503 until it exits (status 0);
#    clients started after the SIGTERM all land on the other two (HAProxy's log); none fails; the
#    restarted backend is marked up again
#  - the same instance drained again with HAProxy's checks of it switched off (so it stays UP and
#    gets new sessions): it refuses their upgrades with HTTP 503 and HAProxy redispatches them,
#    every one succeeding on the other two
#  - SIGKILL to another backend: sessions started at once still succeed (HAProxy retries them
#    elsewhere), HAProxy marks it down within its check interval x fall (+ one interval), and new
#    sessions succeed on the live ones
# Skipped (with the reason) only when haproxy is not installed. Ends with "N passed, N failed".
# test-timeout: 600
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
PY=/usr/bin/python3
SHARED=${ASRD_SHARED:-$PWD/../shared}
LMBIN=${ASRD_DATA:-$PWD/data}/lm/cmu-en-us.lmbin
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
claim() { local d="$1"; shift; if "$@"; then ok "$d"; else bad "$d"; fi; } # check, saying what passed

# Everything runs inside a network namespace of the test's own (loopback only), when one can be made:
# the script runs itself there (every daemon, HAProxy, client and curl then shares it).
if [ -z "${ASRD_SCALEOUT_IN_NS:-}" ]; then
    if netns_make; then
        trap netns_del EXIT
        ip netns exec "$NS" env ASRD_SCALEOUT_IN_NS=1 bash "$PWD/tests/e2e_scaleout.sh"
        exit $?
    fi
    echo "note: no network namespace ($NETNS_ERR): everything listens on 127.0.0.1 ports of its own"
fi

# --- static checks: the shipped HAProxy config and the template unit ---
echo "[$SECONDS s]"
if command -v systemd-analyze >/dev/null; then
    T0=$(mktemp -d)
    sed -e "s|/usr/local/bin/asrd|$PWD/build/asrd|" -e "s|/usr/local/etc/asrd/%i.yaml|$T0/%i.yaml|" \
        'configs/asrd@.service' >"$T0/asrd@.service"
    cp configs/asrd.yaml "$T0/a.yaml"
    # The instance asrd@a.service is loaded from the template next to it.
    systemd-analyze verify --man=no "$T0/asrd@a.service" >"$T0/v.out" 2>&1
    rc=$?
    [ $rc = 0 ] && [ ! -s "$T0/v.out" ] && ok "systemd-analyze verify asrd@a.service: clean" ||
        bad "systemd-analyze verify asrd@a.service (rc $rc): $(cat "$T0/v.out")"
    rm -rf "$T0"
else
    bad "no systemd-analyze"
fi
grep -q '^ExecStart=/usr/local/bin/asrd --config /usr/local/etc/asrd/%i.yaml$' 'configs/asrd@.service' &&
    ok "asrd@.service: one config file per instance (%i.yaml)" || bad "asrd@.service ExecStart"
# Same hardening: apart from comments, Description= and ExecStart=, the two units are equal.
strip() { grep -v -e '^#' -e '^Description=' -e '^ExecStart=' "$1"; }
if d=$(diff <(strip configs/asrd.service) <(strip 'configs/asrd@.service')); then
    ok "asrd@.service has asrd.service's settings and hardening, line for line"
else
    bad "asrd@.service differs from asrd.service: $d"
fi

if ! command -v haproxy >/dev/null; then
    skip "haproxy is not installed (Debian package haproxy, in make deps-test): no scale-out test"
    finish
fi
if out=$(haproxy -c -f configs/haproxy.cfg 2>&1); then ok "haproxy -c -f configs/haproxy.cfg: $out"
else bad "haproxy -c -f configs/haproxy.cfg: $out"; fi

need_bins "$ASRD"
[ -f model/asrd-en.model ] || { bad "no model/asrd-en.model"; finish; }

T=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
unset ASRD_MODEL

# Ports: fixed ones inside the test's own namespace, else free ones the kernel hands out.
if [ -n "${ASRD_SCALEOUT_IN_NS:-}" ]; then
    FRONT=2700 BP=(2701 2702 2703) SOLO=2710
else
    read -r FRONT b1 b2 b3 SOLO < <($PY -c 'import socket
ss=[socket.socket() for _ in range(5)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])')
    BP=("$b1" "$b2" "$b3")
fi
NAMES=(asrd-a asrd-b asrd-c)

# --- audio: short real utterances (16 kHz WAV for the client) and longer ones for the SIGTERM ---
echo "[$SECONDS s]"
C=$SHARED/corpus/cathy
src=()
if [ -s "$C/dev.tsv" ]; then
    mapfile -t src < <(awk -F'\t' '!seen[$2]++ {print $1}' "$C/dev.tsv" | head -12 | sed "s|^|$C/|")
else
    echo "note: no shared corpus at $C: tests/data/sample.flac and espeak-ng sentences instead"
    src=("$PWD/tests/data/sample.flac")
    for s in "it's the aurora borealis" "gregson shoved back his chair" "the quick brown fox"; do
        espeak-ng -w "$T/e$((${#src[@]})).wav" "$s" && src+=("$T/e$((${#src[@]})).wav")
    done
fi
SHORT=()
for i in "${!src[@]}"; do
    sox -D "${src[$i]}" -r 16000 -c 1 -b 16 "$T/s$i.wav" && SHORT+=("$T/s$i.wav")
done
LONG=()
for i in 0 1 2 3; do # three utterances back to back, ~10 s: still streaming when the SIGTERM comes
    a=${SHORT[$((i % ${#SHORT[@]}))]} b=${SHORT[$(((i + 4) % ${#SHORT[@]}))]} c=${SHORT[$(((i + 8) % ${#SHORT[@]}))]}
    sox -D "$a" "$b" "$c" "$T/l$i.wav" && LONG+=("$T/l$i.wav")
done
echo "audio: ${#SHORT[@]} short files, ${#LONG[@]} long ones"

# --- the instances' configuration: the shipped file with its own port, 1 worker, drain_s 10, no
# per-address limit (every session comes from HAProxy's address), as README.md "Scaling out" ---
# (10 rather than the 3 haproxy.cfg needs: the checks on the draining instance below have time to
# run on a loaded machine)
echo "[$SECONDS s]"
DEC=()
[ -f "$LMBIN" ] || { echo "note: no $LMBIN (make lm): greedy decoding"; DEC=(--decoder greedy); }
mkconf() { # mkconf PORT FILE
    sed -e "s/^listen: .*/listen: \"127.0.0.1:$1\"/" -e 's/^threads: .*/threads: 1/' \
        -e "s/^  drain_s: .*/  drain_s: 10/" -e 's/^  max_sessions_per_address: .*/  max_sessions_per_address: 0/' \
        configs/asrd.yaml >"$2"
}
mkconf 0 "$T/ref.yaml"
grep -q '^  drain_s: 10$' "$T/ref.yaml" && ok "instance config: configs/asrd.yaml with shutdown.drain_s 10" ||
    bad "configs/asrd.yaml has no shutdown.drain_s"
grep -q '^  max_sessions_per_address: 0$' "$T/ref.yaml" && ok "instance config: no per-address session limit" ||
    bad "configs/asrd.yaml has no limits.max_sessions_per_address"

# Reference transcripts: asrd --batch with the same configuration, every file in one run.
"$ASRD" --batch --config "$T/ref.yaml" "${DEC[@]}" --no-progress --format text "${SHORT[@]}" "${LONG[@]}" \
    >"$T/batch.tsv" 2>"$T/batch.err" || bad "asrd --batch failed: $(tail -3 "$T/batch.err")"
ref() { awk -F'\t' -v f="$1" '$1 == f {print $2}' "$T/batch.tsv"; }
nonempty=$(awk -F'\t' '$2 != ""' "$T/batch.tsv" | wc -l)
check "batch transcripts are not empty ($nonempty of $(wc -l <"$T/batch.tsv"))" [ "$nonempty" -ge 4 ]

# start_backend I: asrd number I (0..2) on BP[I]; sets BPID[I]
BPID=()
start_backend() {
    local i=$1
    mkconf "${BP[$i]}" "$T/b$i.yaml"
    "$ASRD" --config "$T/b$i.yaml" "${DEC[@]}" >/dev/null 2>>"$T/b$i.log" &
    BPID[$i]=$!
    PIDS+=("${BPID[$i]}")
}
http() { # http PORT PATH: "STATUS BODY" of a GET
    curl -s -m 5 -o "$T/http.body" -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null
    echo " $(tr '\n' ' ' 2>/dev/null <"$T/http.body")"
}
metric() { # metric PORT NAME: the value of a metric on that backend
    curl -s -m 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}
wait_port() { # wait_port PORT PID: until /healthz answers 200
    for _ in $(seq 200); do
        [ "$(http "$1" /healthz | cut -c1-3)" = 200 ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- /healthz "full" (limits.max_sessions reached), on an instance of its own ---
echo "[$SECONDS s]"
sed -e 's/^  max_sessions: .*/  max_sessions: 1/' "$T/ref.yaml" >"$T/solo.yaml"
"$ASRD" --config "$T/solo.yaml" "${DEC[@]}" --listen "127.0.0.1:$SOLO" 2>"$T/solo.log" &
SPID=$!
PIDS+=("$SPID")
if wait_port "$SOLO" "$SPID"; then
    check "/healthz with no session: 200 ok ($(http "$SOLO" /healthz))" [ "$(http "$SOLO" /healthz)" = "200 ok " ]
    $PY tests/ws_client.py "ws://127.0.0.1:$SOLO/" "${SHORT[0]}" --rate 16000 --hold 30 --max-seconds 40 \
        >"$T/solo.out" 2>&1 &
    HOLD=$!
    for _ in $(seq 100); do [ "$(metric "$SOLO" asrd_sessions_open)" = 1 ] && break; sleep 0.1; done
    check "/healthz with max_sessions open: 503 full ($(http "$SOLO" /healthz))" [ "$(http "$SOLO" /healthz)" = "503 full " ]
    check "/metrics with max_sessions open: asrd_ready 0" [ "$(metric "$SOLO" asrd_ready)" = 0 ]
    kill "$HOLD" 2>/dev/null
    wait "$HOLD" 2>/dev/null
    for _ in $(seq 100); do [ "$(metric "$SOLO" asrd_sessions_open)" = 0 ] && break; sleep 0.1; done
    check "/healthz once the session closed: 200 ok" [ "$(http "$SOLO" /healthz)" = "200 ok " ]
    check "/metrics: asrd_ready 1, asrd_sessions_max 1" \
        [ "$(metric "$SOLO" asrd_ready) $(metric "$SOLO" asrd_sessions_max)" = "1 1" ]
else
    bad "the max_sessions 1 instance did not start: $(tail -3 "$T/solo.log")"
fi
kill "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null

# --- three backends and HAProxy with the shipped configuration ---
echo "[$SECONDS s]"
for i in 0 1 2; do start_backend "$i"; done
for i in 0 1 2; do
    wait_port "${BP[$i]}" "${BPID[$i]}" || { bad "backend $i did not start: $(tail -3 "$T/b$i.log")"; finish; }
done
{
    sed -e 's|^\( *\)log /dev/log local0|\1log stdout format raw local0|' \
        -e "s|/run/haproxy/asrd.sock|$T/admin.sock|" \
        -e "s|^\( *\)bind 127.0.0.1:2700|\1bind 127.0.0.1:$FRONT|" \
        -e '/^ *server asrd-/d' configs/haproxy.cfg
    for i in 0 1 2; do echo "    server ${NAMES[$i]} 127.0.0.1:${BP[$i]}"; done
} >"$T/haproxy.cfg"
grep -q "bind 127.0.0.1:$FRONT" "$T/haproxy.cfg" && grep -q 'log stdout' "$T/haproxy.cfg" ||
    { bad "could not rewrite configs/haproxy.cfg for the test"; finish; }
haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
HPID=$!
PIDS+=("$HPID")
# hastat.py SOCKET NAME: HAProxy's status of a server (UP, DOWN, ...), from its runtime API;
# with --until-down: prints "ready", then polls every 50 ms and prints the time (epoch s) it first
# reads DOWN (30 s at most)
cat >"$T/hastat.py" <<'PY'
import csv, socket, sys, time
def status(path, name):
    s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(path); s.sendall(b"show stat\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b: break
        data += b
    s.close()
    rows = list(csv.reader(data.decode().lstrip("# ").splitlines()))
    for r in rows[1:]:
        if len(r) == len(rows[0]) and r[rows[0].index("svname")] == name:
            return r[rows[0].index("status")].split()[0]
    return ""
if sys.argv[3:] == ["--until-down"]:
    print("ready", flush=True)
    end = time.time() + 30
    while time.time() < end and status(sys.argv[1], sys.argv[2]) != "DOWN":
        time.sleep(0.05)
    if time.time() < end:
        print(time.time(), flush=True)
else:
    print(status(sys.argv[1], sys.argv[2]))
PY
state() { $PY "$T/hastat.py" "$T/admin.sock" "$1" 2>/dev/null; } # state NAME
admin() { # admin COMMAND: HAProxy's runtime API
    $PY - "$T/admin.sock" "$*" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b"\n")
print(s.recv(65536).decode().strip())
PY
}
wait_state() { # wait_state NAME STATE TRIES(0.1 s)
    for _ in $(seq "$3"); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}
for n in "${NAMES[@]}"; do
    wait_state "$n" UP 100 && ok "HAProxy: $n UP" || bad "HAProxy: $n is $(state "$n"), not UP: $(tail -5 "$T/haproxy.log")"
done
URL="ws://127.0.0.1:$FRONT"

# run_clients TAG N FILES...: N sessions through HAProxy at once (the files in turn), ?c=TAG-K;
# output in $T/TAG-K.out; extra ws_client options in $COPTS
run_clients() {
    local tag=$1 n=$2; shift 2
    local files=("$@") k
    for ((k = 0; k < n; k++)); do
        echo "$T/$tag-$k.out $URL/?c=$tag-$k ${files[$((k % ${#files[@]}))]} --rate 16000 ${COPTS:-}"
    done | $PY tests/ws_many.py
}
file_of() { # file_of TAG K FILES...
    local tag=$1 k=$2; shift 2
    local files=("$@")
    echo "${files[$((k % ${#files[@]}))]}"
}
# verdicts TAG N FILES...: one line per session K (file FILES[K % #FILES]), from one Python run:
# "K CLOSE SAME FINAL" - CLOSE the close code (- when none), SAME 1 when its transcript equals the
# batch transcript of its file, FINAL 1 when its last message before the close was a final result
verdicts() {
    local tag=$1 n=$2; shift 2
    $PY - "$T" "$tag" "$n" "$T/batch.tsv" "$@" <<'PY'
import json, sys
t, tag, n, tsv, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
ref = dict(l.rstrip("\n").split("\t", 1) for l in open(tsv) if "\t" in l)
for k in range(n):
    f = files[k % len(files)]
    close, text, final = None, None, 0
    try:
        for line in open(f"{t}/{tag}-{k}.out"):
            o = json.loads(line)
            if "msg" in o:
                final = int(isinstance(o["msg"], dict) and "text" in o["msg"])
            elif "close" in o:
                close, text = o["close"], o["text"]
    except (OSError, ValueError):
        pass
    print(k, close if close is not None else "-", int(text is not None and text == ref.get(f)), final)
PY
}
server_of() { # server_of TAG-K: the backend HAProxy's log names for that session
    grep -F "\"GET /?c=$1 HTTP" "$T/haproxy.log" | tail -1 | sed -n 's|.* asr asrd/\(asrd-[a-c]\) .*|\1|p'
}
# expect_ok TAG N FILES...: every session closed 1000 with the batch transcript of its file;
# prints the others, then (last line) how many did
expect_ok() {
    local tag=$1 n=$2; shift 2
    local k c same fin good=0
    while read -r k c same fin; do
        if [ "$c" = 1000 ] && [ "$same" = 1 ]; then
            good=$((good + 1))
        else
            echo "  $tag-$k on $(server_of "$tag-$k"): $(tail -1 "$T/$tag-$k.out" 2>/dev/null)" \
                "(batch: $(ref "$(file_of "$tag" "$k" "$@")"))"
        fi
    done < <(verdicts "$tag" "$n" "$@")
    echo "$good"
}

# --- 60 clients across the three backends ---
echo "[$SECONDS s]"
COPTS="--pace 2" run_clients p1 60 "${SHORT[@]}"
good=$(expect_ok p1 60 "${SHORT[@]}")
echo "$good" | sed '$d'
good=$(echo "$good" | tail -1)
claim "60 sessions through HAProxy: $good closed 1000 with the transcript of asrd --batch" [ "$good" = 60 ]
for i in 0 1 2; do
    n=$(metric "${BP[$i]}" asrd_sessions_total)
    claim "${NAMES[$i]}'s /metrics: asrd_sessions_total ${n:-?} (>= 10 of the 60)" [ "${n:-0}" -ge 10 ]
    a=$(metric "${BP[$i]}" asrd_audio_seconds_total)
    claim "${NAMES[$i]}'s /metrics: asrd_audio_seconds_total $a > 0" $PY -c "exit(0 if float('${a:-0}') > 0 else 1)"
done
logged=$(grep -c '"GET /?c=p1-[0-9]* HTTP' "$T/haproxy.log")
claim "HAProxy logged the 60 upgrades ($logged)" [ "$logged" = 60 ]

# --- SIGTERM to one backend while 20 clients stream ---
echo "[$SECONDS s]"
COPTS="--pace 1" run_clients p2 20 "${LONG[@]}" &
P2=$!
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ]; do
    # sessions open on each backend, from one curl
    read -r -a cnt < <(curl -s -m 5 "http://127.0.0.1:${BP[0]}/metrics" "http://127.0.0.1:${BP[1]}/metrics" \
        "http://127.0.0.1:${BP[2]}/metrics" | awk '$1 == "asrd_sessions_open" {printf "%s ", $2}')
    open=$(( ${cnt[0]:-0} + ${cnt[1]:-0} + ${cnt[2]:-0} ))
    [ "$open" -ge 20 ] && break
    sleep 0.1
done
claim "20 sessions open across the backends before the SIGTERM (${cnt[*]})" [ "$open" -ge 20 ]
V=0 # the backend with most sessions is stopped
for i in 1 2; do [ "${cnt[$i]:-0}" -gt "${cnt[$V]:-0}" ] && V=$i; done
echo "SIGTERM to ${NAMES[$V]} with ${cnt[$V]:-?} sessions open"
kill -TERM "${BPID[$V]}"
dr=$(metric "${BP[$V]}" asrd_draining)
run_clients p2b 10 "${SHORT[@]}" & # started after the SIGTERM, while it drains
P2B=$!
h=$(http "${BP[$V]}" /healthz)
claim "draining backend: /healthz 503 draining ($h)" [ "$h" = "503 draining " ]
up=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "http://127.0.0.1:${BP[$V]}/")
claim "draining backend: a WebSocket upgrade gets HTTP 503 ($up)" [ "$up" = 503 ]
claim "draining backend: asrd_draining 1 in /metrics (${dr:-none})" [ "$dr" = 1 ]
wait "$P2" "$P2B"
wait "${BPID[$V]}"
rc=$?
claim "the SIGTERMed backend exited with status 0 (got $rc)" [ $rc = 0 ]
nvict=0 nrest=0 badv=0 badr=0
while read -r k c same fin; do
    if [ "$(server_of "p2-$k")" = "${NAMES[$V]}" ]; then
        nvict=$((nvict + 1))
        # the last message before the close is a final result ("text"), the close is 1001
        if [ "$c" = 1001 ] && [ "$fin" = 1 ]; then :; else
            badv=$((badv + 1)); echo "  p2-$k: $(tail -2 "$T/p2-$k.out" | tr '\n' ' ')"
        fi
    else
        nrest=$((nrest + 1))
        if [ "$c" = 1000 ] && [ "$same" = 1 ]; then :; else
            badr=$((badr + 1)); echo "  p2-$k on $(server_of "p2-$k"): $(tail -1 "$T/p2-$k.out")"
        fi
    fi
done < <(verdicts p2 20 "${LONG[@]}")
claim "the stopped backend's $nvict sessions (of 20): each got its final result, then close 1001 ($badv did not)" \
    [ "$nvict" -ge 1 -a "$badv" = 0 ]
claim "the other backends' $nrest sessions: close 1000, transcript of asrd --batch ($badr did not)" [ "$badr" = 0 ]
good=$(expect_ok p2b 10 "${SHORT[@]}")
echo "$good" | sed '$d'
good=$(echo "$good" | tail -1)
claim "10 sessions started after the SIGTERM: $good closed 1000 with the batch transcript" [ "$good" = 10 ]
onv=0
for ((k = 0; k < 10; k++)); do [ "$(server_of "p2b-$k")" = "${NAMES[$V]}" ] && onv=$((onv + 1)); done
claim "sessions started after the SIGTERM: none on ${NAMES[$V]} ($onv)" [ "$onv" = 0 ]
retried=$(grep -c '"GET /?c=p2b-[0-9]* HTTP' "$T/haproxy.log")
echo "note: HAProxy log lines of the 10: $retried; redispatched ones: $(grep '"GET /?c=p2b-' "$T/haproxy.log" | grep -c '/+[0-9]')"
# Clients of the stopped backend reconnect: their whole file, on a live backend.
: >"$T/re.list"
for ((k = 0; k < 20; k++)); do
    [ "$(server_of "p2-$k")" = "${NAMES[$V]}" ] || continue
    echo "$T/re-$k.out $URL/?c=re-$k $(file_of p2 "$k" "${LONG[@]}") --rate 16000" >>"$T/re.list"
done
$PY tests/ws_many.py <"$T/re.list"
badre=0
while read -r k c same fin; do
    [ -f "$T/re-$k.out" ] || continue
    if [ "$c" = 1000 ] && [ "$same" = 1 ] && [ "$(server_of "re-$k")" != "${NAMES[$V]}" ]; then :; else
        badre=$((badre + 1)); echo "  re-$k on $(server_of "re-$k"): $(tail -1 "$T/re-$k.out")"
    fi
done < <(verdicts re 20 "${LONG[@]}")
claim "the $nvict reconnecting clients: whole transcript from a live backend ($badre did not)" [ "$badre" = 0 ]
grep -q "${NAMES[$V]} is DOWN" "$T/haproxy.log" && ok "HAProxy marked ${NAMES[$V]} down while it drained" ||
    bad "HAProxy never marked ${NAMES[$V]} down"
# Rolling restart: the instance comes back, HAProxy sends it sessions again.
start_backend "$V"
wait_port "${BP[$V]}" "${BPID[$V]}" || bad "${NAMES[$V]} did not restart"
wait_state "${NAMES[$V]}" UP 100 && ok "restarted ${NAMES[$V]}: UP again" || bad "restarted ${NAMES[$V]}: $(state "${NAMES[$V]}")"

# --- upgrades a draining instance refuses (HTTP 503) are retried on another (retry-on 503) ---
# HAProxy's checks of the instance are switched off first, so that it stays UP while it drains: idle,
# it is among the least loaded servers and gets new sessions, which it refuses.
echo "[$SECONDS s]"
admin "disable health asrd/${NAMES[$V]}" >/dev/null
kill -TERM "${BPID[$V]}"
sleep 0.5
run_clients p2c 9 "${SHORT[@]}"
nd=$(metric "${BP[$V]}" 'asrd_errors_total{kind="draining"}')
kill -0 "${BPID[$V]}" 2>/dev/null && alive=yes || alive=no
good=$(expect_ok p2c 9 "${SHORT[@]}")
echo "$good" | sed '$d'
good=$(echo "$good" | tail -1)
onv=0
for ((k = 0; k < 9; k++)); do [ "$(server_of "p2c-$k")" = "${NAMES[$V]}" ] && onv=$((onv + 1)); done
redis=$(grep '"GET /?c=p2c-' "$T/haproxy.log" | grep -c '/+[0-9]')
claim "draining ${NAMES[$V]}, kept UP in HAProxy, refused ${nd:-no} upgrades with HTTP 503 (still draining: $alive)" \
    [ "${nd:-0}" -ge 1 -a "$alive" = yes ]
claim "9 sessions meanwhile: $good closed 1000 with the batch transcript, $onv on ${NAMES[$V]}, $redis redispatched" \
    [ "$good" = 9 -a "$onv" = 0 -a "$redis" -ge 1 ]
wait "${BPID[$V]}"
admin "enable health asrd/${NAMES[$V]}" >/dev/null
start_backend "$V"
wait_port "${BP[$V]}" "${BPID[$V]}" || bad "${NAMES[$V]} did not restart"
wait_state "${NAMES[$V]}" UP 100 && ok "restarted ${NAMES[$V]} again: UP" || bad "restarted ${NAMES[$V]}: $(state "${NAMES[$V]}")"

# --- SIGKILL to another backend ---
echo "[$SECONDS s]"
K=$(((V + 1) % 3))
inter=$(sed -n 's/.*default-server .*inter \([0-9]*\)s.*/\1/p' configs/haproxy.cfg)
fall=$(sed -n 's/.*default-server .*fall \([0-9]*\).*/\1/p' configs/haproxy.cfg)
# A poller, started before the kill, asks HAProxy for the server's state every 50 ms and prints
# when it first reads DOWN (so neither its start-up nor a shell loop is in the measurement).
$PY "$T/hastat.py" "$T/admin.sock" "${NAMES[$K]}" --until-down >"$T/down_at" 2>/dev/null &
POLL=$!
for _ in $(seq 100); do grep -q ready "$T/down_at" 2>/dev/null && break; sleep 0.1; done
t0=$(date +%s.%N)
kill -KILL "${BPID[$K]}"
wait "${BPID[$K]}" 2>/dev/null # (reaped here: bash would report "Killed")
run_clients p3a 6 "${SHORT[@]}" & # at once: HAProxy has not noticed yet
P3=$!
wait "$POLL"
t1=$(sed -n 2p "$T/down_at")
dt=$($PY -c "print(round(${t1:-1e9} - $t0, 2))")
limit=$((inter * (fall + 1)))
claim "SIGKILL: HAProxy marks ${NAMES[$K]} DOWN after $dt s (checks: inter ${inter}s x fall $fall; limit ${limit} s)" \
    $PY -c "exit(0 if '$(state "${NAMES[$K]}")' == 'DOWN' and $dt <= $limit else 1)"
wait "$P3"
good=$(expect_ok p3a 6 "${SHORT[@]}")
echo "$good" | sed '$d'
good=$(echo "$good" | tail -1)
claim "6 sessions started right after the SIGKILL: $good closed 1000 with the batch transcript" [ "$good" = 6 ]
run_clients p3b 12 "${SHORT[@]}"
good=$(expect_ok p3b 12 "${SHORT[@]}")
echo "$good" | sed '$d'
good=$(echo "$good" | tail -1)
claim "12 sessions after it is down: $good closed 1000 with the batch transcript" [ "$good" = 12 ]
onk=0
for ((k = 0; k < 12; k++)); do [ "$(server_of "p3b-$k")" = "${NAMES[$K]}" ] && onk=$((onk + 1)); done
spread=$(for ((k = 0; k < 12; k++)); do server_of "p3b-$k"; done | sort -u | wc -l)
claim "they ran on the two live backends ($spread of them; $onk on the killed one)" [ "$onk" = 0 -a "$spread" = 2 ]

kill -TERM "$HPID" 2>/dev/null
finish
