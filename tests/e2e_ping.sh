#!/bin/bash
# e2e_ping.sh - lws's ping/hangup (limits.ping_s, limits.hangup_s) against the daemon's own
# backpressure, with a real build/asrd in a network namespace of its own and real clients. Checks that
#  - a session the daemon stops reading (its queue is over limits.queue_bytes: one worker and a slow
#    random-weight model, two minutes of audio sent as fast as possible) for longer than hangup_s
#    (small queue: its pong waits behind the unread audio) or idle_timeout_s (large queue: long
#    pauses) is neither hung up nor closed as idle: its final arrives, equal to `asrd --batch` of the
#    same file, and the close is 1000 (before the fix: 1006, no close frame, from lws's hangup; and
#    1001 "idle timeout"; no final either way);
#  - a client that does the handshake and then never answers (a raw socket that reads nothing and
#    sends no pong) while the daemon is not pausing it is still hung up after hangup_s: the daemon's
#    /metrics shows the session gone, and the socket got pings, then EOF without a close frame.
# Ends with "N passed, N failed".
# test-timeout: 600
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_bins "$ASRD" "$MK"
e2e_tmp netns
unset ASRD_MODEL
RUN=(${IN[@]+"${IN[@]}"})

# A model slow enough (a few times real time here) that a minute of audio keeps the one worker
# busy for several hangup_s, so the session stays paused that long.
"$MK" "$T/m.model" --layers 3 --hidden 1024 --seed 5 >/dev/null || { bad "tool_mkmodel failed"; finish; }
sox tests/data/sample.flac -r 16000 -c 1 -b 16 "$T/a.wav" || { bad "sox failed"; finish; }
parts=()
for ((i = 0; i < 40; i++)); do parts+=("$T/a.wav"); done # 125 s
sox "${parts[@]}" "$T/long.wav" || { bad "sox concatenation failed"; finish; }
NOEP='endpoint: {silence_ms: 0, max_utterance_ms: 0}' # one utterance, as in batch

field() { tail -1 "$1" | $PY -c 'import json,sys; v=json.loads(sys.stdin.read()).get(sys.argv[1]); print("" if v is None else v)' "$2"; }
metric() { # metric NAME: its value on the running daemon's /metrics
    "${RUN[@]}" $PY -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$PORT/metrics', timeout=10).read().decode())" |
        awk -v k="$1" '$1==k{print $2}'
}

# ---- 1. Backpressure longer than hangup_s, and than idle_timeout_s ----
# "hangup": a small queue, so the client's pong waits in the socket behind nearly all its audio,
# read only as fast as the one worker decodes it (lws confirms validity on a pong alone).
# "idle": a large queue, so each pause lasts while half of it is decoded, longer than
# idle_timeout_s (1 s).
want=$("$ASRD" --batch --model "$T/m.model" "$T/long.wav" 2>/dev/null)
[ -n "$want" ] || bad "batch gave no text"
for run in hangup:64000:60 idle:6000000:1; do
    IFS=: read -r name qb idle <<<"$run"
    printf '%s\n' "threads: 1" "$NOEP" \
        "limits: {queue_bytes: $qb, ping_s: 1, hangup_s: 3, idle_timeout_s: $idle}" >"$T/$name.yaml"
    asrd_start "$name" --config "$T/$name.yaml" --model "$T/m.model" --listen 127.0.0.1:0 || {
        bad "$START_ERR"
        continue
    }
    t0=$(date +%s)
    "${RUN[@]}" $PY tests/ws_client.py "ws://127.0.0.1:$PORT/" "$T/long.wav" --rate 16000 --chunk 8000 \
        --max-seconds 300 >"$T/$name.out" 2>"$T/$name.err"
    took=$(($(date +%s) - t0))
    close=$(field "$T/$name.out" close)
    # The audio is sent in well under a second, so the session spent most of this paused; one that
    # ends well within hangup_s would prove nothing (a much faster machine).
    echo "note: $name: the session took $took s"
    if [ "$close" = 1000 ] && [ "$took" -le 3 ]; then
        skip "$name: the session took only $took s: not paused past hangup_s here"
    fi
    check "$name: close 1000 after backpressure (got '$close')" [ "$close" = 1000 ]
    check "$name: final text equals batch ('$(field "$T/$name.out" text | cut -c1-40)...' vs '$(echo "$want" | cut -c1-40)...')" \
        [ "$(field "$T/$name.out" text)" = "$want" ]
    kill "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
done

# ---- 2. A client that stops answering is still hung up ----
printf '%s\n' "threads: 1" "limits: {ping_s: 1, hangup_s: 3, idle_timeout_s: 0}" >"$T/dead.yaml"
if asrd_start dead --config "$T/dead.yaml" --model "$T/m.model" --listen 127.0.0.1:0; then
    "${RUN[@]}" $PY - "$PORT" >"$T/dead.out" 2>&1 <<'EOF' &
import base64, os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
head = b""
while b"\r\n\r\n" not in head:
    c = s.recv(1)
    if not c:
        break
    head += c
print("handshake", head.split(b"\r\n")[0].decode(), flush=True)
time.sleep(20)  # reads nothing, answers nothing: long past hangup_s
data = b""
s.settimeout(5)
try:
    while True:
        c = s.recv(65536)
        if not c:
            print("eof", flush=True)
            break
        data += c
except OSError as e:
    print("no eof:", e, flush=True)
ops, i = [], 0
while i + 2 <= len(data):  # server frames are unmasked; pings here carry < 126 bytes
    ops.append(data[i] & 0x0F)
    i += 2 + (data[i + 1] & 0x7F)
print("pings", ops.count(9), "closes", ops.count(8), flush=True)
EOF
    cpid=$!
    PIDS+=("$cpid")
    open=
    for ((i = 0; i < 100; i++)); do # the session shows in /metrics, then goes (hangup_s 3; 20 s at most)
        sleep 0.2
        open=$(metric asrd_sessions_open)
        [ "$open" = 1 ] && break
    done
    check "the silent client's session opened (asrd_sessions_open $open)" [ "$open" = 1 ]
    for ((i = 0; i < 90; i++)); do
        open=$(metric asrd_sessions_open)
        [ "$open" = 0 ] && break
        sleep 0.2
    done
    check "the silent client is hung up (asrd_sessions_open $open)" [ "$open" = 0 ]
    wait "$cpid"
    check "it got the 101 handshake ($(head -1 "$T/dead.out"))" grep -q '^handshake HTTP/1.1 101' "$T/dead.out"
    check "its socket was closed (EOF): $(sed -n 2p "$T/dead.out")" grep -q '^eof' "$T/dead.out"
    check "it was pinged, and no close frame came: $(tail -1 "$T/dead.out")" \
        grep -Eq '^pings [1-9][0-9]* closes 0$' "$T/dead.out"
    kill "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
else
    bad "$START_ERR"
fi
finish
