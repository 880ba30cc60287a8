#!/bin/bash
# e2e_log_reopen.sh - SIGHUP reopens the log file while every thread logs: the daemon with
# log.file and log.level debug serves 6 concurrent Vosk clients in a loop for 8 s (each session
# sends a phrase_list config, which a worker thread logs, then audio and eof) while the log is
# renamed away and SIGHUP sent every 50 ms, logrotate style. Checks, for the normal build and for
# the ThreadSanitizer build (build/tsan/asrd, `make tsan`): no ThreadSanitizer report; exit 0 after
# SIGTERM; every log line is whole (timestamp, "asrd:", level) and none is lost: the workers'
# "phrase list" lines across all the rotated files equal the configs the clients sent; the last
# file has the shutdown lines. Daemons run in a network namespace of the test's own when one can
# be made (loopback only).
# KEEP_T=1 keeps the temporary directory (logs, stderr) for a look. Ends with "N passed, N failed".
# test-timeout: 600
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
TSAN=${ASRD_TSAN_BIN:-$PWD/build/tsan/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for b in "$ASRD" "$TSAN" "$MK"; do [ -x "$b" ] || { bad "missing $b (run make all tsan first)"; finish; }; done
e2e_tmp netns
unset ASRD_MODEL
export TSAN_OPTIONS="halt_on_error=0 exitcode=66" # the ThreadSanitizer build's (the other ignores it)
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
sox tests/data/sample.flac -r 16000 -c 1 -b 16 "$T/a.wav" trim 0 1 || { bad "sox failed"; finish; }

# load.py URL WAV SECONDS: 6 clients, sessions back to back; prints the number of phrase_list
# configs sent by sessions that ended with a normal close
cat >"$T/load.py" <<'EOF'
import asyncio, json, sys, time, wave
import websockets
url, wav, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
pcm = wave.open(wav).readframes(1 << 30)
done = 0
async def client(k):
    global done
    end = time.time() + secs
    while time.time() < end:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"config": {"phrase_list": ["yes no", "maybe %d" % k]}}))
            for i in range(0, len(pcm), 3200):
                await ws.send(pcm[i:i + 3200])
            await ws.send('{"eof" : 1}')
            async for _ in ws:
                pass
            if ws.close_code == 1000:
                done += 1
async def main():
    await asyncio.gather(*(client(k) for k in range(6)))
asyncio.run(main())
print(done)
EOF

# scenario NAME BINARY
scenario() {
    local name=$1 bin=$2 d="$T/$1"
    mkdir -p "$d"
    printf 'log: {file: "%s/asrd.log", level: debug}\nendpoint: {silence_ms: 0, max_utterance_ms: 0}\n' "$d" >"$d/c.yaml"
    local ASRD=$bin # stderr (ThreadSanitizer reports) in $T/NAME.log, the log in $d/asrd.log
    ASRD_LOG=$d/asrd.log asrd_start "$name" --config "$d/c.yaml" --model "$T/m.model" --listen 127.0.0.1:0 ||
        { bad "$name: $START_ERR"; return; }
    "${IN[@]}" $PY "$T/load.py" "ws://127.0.0.1:$PORT/" "$T/a.wav" 8 >"$d/sent" 2>"$d/load.err" &
    local lp=$! n=0
    while kill -0 "$lp" 2>/dev/null; do
        n=$((n + 1))
        mv "$d/asrd.log" "$d/asrd.log.$n" 2>/dev/null
        kill -HUP "$DPID"
        sleep 0.05
    done
    wait "$lp"
    kill -TERM "$DPID"
    wait "$DPID"
    local rc=$?
    DPID=
    local sent; sent=$(cat "$d/sent")
    check "$name: the clients' sessions ran (${sent:-0} closed normally; $(tail -1 "$d/load.err"))" [ "${sent:-0}" -ge 12 ]
    check "$name: $n reopens: rotated files written" [ "$(ls "$d"/asrd.log.* | wc -l)" -ge 20 ]
    check "$name: no ThreadSanitizer report ($(grep -c 'WARNING: ThreadSanitizer' "$T/$name.log") in stderr)" \
        bash -c '! grep -q "ThreadSanitizer" "$1"' _ "$T/$name.log"
    check "$name: exit 0 after SIGTERM (rc $rc)" [ $rc -eq 0 ]
    cat "$d"/asrd.log.* "$d/asrd.log" >"$d/all"
    local badl; badl=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} asrd: (debug|info|warning|error): ' "$d/all")
    check "$name: every line whole ($badl not)" [ "$badl" -eq 0 ]
    local logged; logged=$(grep -c "session: phrase list" "$d/all")
    check "$name: no line lost: $logged worker lines for >= $sent configs" [ "$logged" -ge "${sent:-1}" ]
    check "$name: the last file has the shutdown" grep -q "stopped" "$d/asrd.log"
}
scenario normal "$ASRD"
scenario tsan "$TSAN"
finish
