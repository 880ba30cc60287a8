#!/bin/bash
# e2e_tsan.sh - the ThreadSanitizer build of the daemon (build/tsan/asrd, `make tsan`) through the
# daemon's thread-crossing paths, with TSAN_OPTIONS=halt_on_error=1: the first data race, lock-order
# inversion or thread leak ends the daemon (exit 66), and any "ThreadSanitizer" line in its stderr
# fails the test. Decoder: beam search with a word LM (tests/data/toy.arpa), 2 worker threads,
# endpointing on, a tiny random model (tool_mkmodel). Scenarios, each on a daemon of its own:
#  - many sessions: 12 concurrent clients, each several sessions back to back (config with and
#    without a phrase list, audio in jittered chunks, {"reset" : 1} mid-stream, eof): every session
#    ends with a normal close and a final result
#  - client resets: clients that vanish mid-stream (TCP reset, no close handshake) while workers
#    still decode their audio, beside healthy sessions that must finish
#  - SIGHUP: the log file renamed away and SIGHUP every 50 ms under load
#  - the microphone feed (file source, paced) with /mic subscribers joining and leaving
#  - SIGTERM mid-stream under load: exit 0, the streaming clients get their final result
# Daemons run in a network namespace of the test's own when one can be made (loopback only).
# KEEP_T=1 keeps the temporary directory. Ends with "N passed, N failed".
# test-timeout: 900
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_TSAN_BIN:-$PWD/build/tsan/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for b in "$ASRD" "$MK"; do [ -x "$b" ] || { bad "missing $b (run make all tsan first)"; finish; }; done
e2e_tmp netns
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
sox tests/data/sample.flac -r 16000 -c 1 -b 16 "$T/a.wav" || { bad "sox failed"; finish; }
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"

# load.py URL WAV MODE N SECONDS: N clients running sessions back to back for SECONDS.
# MODE normal: every session sends a config (a phrase list every other time), the audio in jittered
#   chunks with a reset in the middle, then eof; counts sessions closed with 1000 after a final result.
# MODE reset: sessions that send a config and part of the audio, then reset the TCP connection.
# MODE mic: subscribers of /mic that stay 0.5-2 s and close.
# MODE stream: each client streams the audio in real time (0.1 s chunks every 0.1 s) until the
#   daemon closes; counts clients that got a final result and a close 1001 (SIGTERM).
# Prints "done N failed F" (failed: anything else, with the reason on stderr).
cat >"$T/load.py" <<'PYEOF'
import asyncio, json, random, socket, struct, sys, time, wave
import websockets
url, wav, mode, n, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
pcm = wave.open(wav).readframes(1 << 30)
done = failed = 0
async def normal(k, rnd):
    global done, failed
    async with websockets.connect(url, max_size=None) as ws:
        cfg = {"sample_rate": 16000, "words": True}
        if rnd.random() < 0.5:
            cfg["phrase_list"] = ["yes no", "maybe %d" % k, "gregson shoved back his chair"]
        await ws.send(json.dumps({"config": cfg}))
        i, half, sent_reset = 0, len(pcm) // 2, False
        while i < len(pcm):
            step = rnd.choice([640, 1600, 3200, 4001])
            await ws.send(pcm[i:i + step])
            i += step
            if not sent_reset and i >= half:
                await ws.send('{"reset" : 1}')
                sent_reset = True
        await ws.send('{"eof" : 1}')
        last = None
        async for m in ws:
            last = m
        if ws.close_code == 1000 and last is not None and '"text"' in last:
            done += 1
        else:
            failed += 1
            print("session %d: close %s, last %r" % (k, ws.close_code, last), file=sys.stderr)
async def reset(k, rnd):
    global done
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"config": {"sample_rate": 16000}}))
    cut = rnd.randrange(3200, len(pcm))
    for i in range(0, cut, 3200):
        await ws.send(pcm[i:min(i + 3200, cut)])
    await asyncio.sleep(rnd.random() * 0.05)
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()
    done += 1
async def mic(k, rnd):
    global done, failed
    async with websockets.connect(url) as ws:
        end = time.time() + 0.5 + 1.5 * rnd.random()
        try:
            while time.time() < end:
                await asyncio.wait_for(ws.recv(), timeout=max(0.01, end - time.time()))
        except asyncio.TimeoutError:
            pass
    done += 1
async def stream(k, rnd):
    global done, failed
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"config": {"sample_rate": 16000}}))
        last = None
        async def reader():
            nonlocal last
            async for m in ws:
                last = m
        rt = asyncio.ensure_future(reader())
        try:
            i = 0
            while True:
                await ws.send(pcm[i % len(pcm):i % len(pcm) + 3200])
                i += 3200
                await asyncio.sleep(0.1)
        except websockets.ConnectionClosed:
            pass
        await rt
        if ws.close_code == 1001 and last is not None and '"text"' in last:
            done += 1
        else:
            failed += 1
            print("stream %d: close %s, last %r" % (k, ws.close_code, last), file=sys.stderr)
async def client(k):
    global failed
    rnd = random.Random(k)
    fn = {"normal": normal, "reset": reset, "mic": mic, "stream": stream}[mode]
    end = time.time() + secs
    while True:
        try:
            await fn(k, rnd)
        except Exception as e:
            failed += 1
            print("client %d: %r" % (k, e), file=sys.stderr)
        if mode == "stream" or time.time() >= end:
            break
async def main():
    await asyncio.gather(*(client(k) for k in range(n)))
asyncio.run(main())
print("done %d failed %d" % (done, failed))
PYEOF

# start NAME CONFIG_TEXT: starts the TSan daemon with the config (plus the common decoder and
# threads settings); sets DPID and PORT; stderr (log and any ThreadSanitizer report) in $T/NAME.log
start() {
    local name=$1 conf=$2
    printf 'threads: 2\ndecoder: {kind: beam, lm: "%s", beam: 8}\n%s\n' "$PWD/tests/data/toy.arpa" "$conf" >"$T/$name.yaml"
    asrd_start "$name" --config "$T/$name.yaml" --model "$T/m.model" --listen 127.0.0.1:0 && return 0
    bad "$START_ERR"
    kill -9 "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
    DPID=
    return 1
}
# load NAME PATH MODE N SECONDS: load.py against the daemon, output in $T/NAME.MODE
load() {
    "${IN[@]}" $PY "$T/load.py" "ws://127.0.0.1:$PORT$2" "$T/a.wav" "$3" "$4" "$5" >"$T/$1.$3" 2>"$T/$1.$3.err"
}
# got FILE: "done N failed F" -> N F
got() { sed -n 's/^done \([0-9]*\) failed \([0-9]*\)$/\1 \2/p' "$1"; }
# stop NAME: SIGTERM, wait; checks exit 0 and no ThreadSanitizer report
stop() {
    local name=$1
    kill -TERM "$DPID" 2>/dev/null
    wait "$DPID"
    local rc=$?
    DPID=
    check "$name: exit 0 after SIGTERM (rc $rc; 66 = a ThreadSanitizer report)" [ $rc -eq 0 ]
    no_report "$name"
}
no_report() {
    if grep -q "ThreadSanitizer" "$T/$1.log"; then
        bad "$1: ThreadSanitizer report:"
        grep -A14 "WARNING: ThreadSanitizer" "$T/$1.log" | head -40
    else
        ok "$1: no ThreadSanitizer report"
    fi
}

# --- many sessions, with resets mid-stream ---
if start many 'endpoint: {silence_ms: 300, max_utterance_ms: 2000}'; then
    load many / normal 12 10
    read -r d f < <(got "$T/many.normal")
    check "many: ${d:-0} sessions closed normally with a final result, ${f:-?} not ($(tail -1 "$T/many.normal.err"))" \
        [ "${d:-0}" -ge 24 -a "${f:-1}" -eq 0 ]
    stop many
fi

# --- client resets mid-stream beside healthy sessions ---
if start resets 'endpoint: {silence_ms: 300, max_utterance_ms: 2000}'; then
    load resets / reset 8 10 &
    rp=$!
    load resets / normal 4 10
    wait $rp
    read -r d f < <(got "$T/resets.reset")
    check "resets: ${d:-0} sessions reset by their clients mid-stream" [ "${d:-0}" -ge 20 ]
    read -r d f < <(got "$T/resets.normal")
    check "resets: the healthy sessions beside them finished (${d:-0} ok, ${f:-?} not)" \
        [ "${d:-0}" -ge 4 -a "${f:-1}" -eq 0 ]
    stop resets
fi

# --- SIGHUP log reopens under load ---
if ASRD_LOG=$T/hup-file.log start hup "log: {file: \"$T/hup-file.log\", level: debug}"; then
    load hup / normal 6 8 &
    lp=$!
    n=0
    while kill -0 "$lp" 2>/dev/null; do
        n=$((n + 1))
        mv "$T/hup-file.log" "$T/hup-file.log.$n" 2>/dev/null
        kill -HUP "$DPID" 2>/dev/null
        sleep 0.05
    done
    wait $lp
    read -r d f < <(got "$T/hup.normal")
    check "hup: $n reopens; ${d:-0} sessions ok, ${f:-?} not" [ "$n" -ge 20 -a "${d:-0}" -ge 6 -a "${f:-1}" -eq 0 ]
    stop hup
fi

# --- the microphone feed with subscribers coming and going ---
if start mic "mic: {enabled: true, source: \"$T/a.wav\", pace: true}
endpoint: {silence_ms: 300, max_utterance_ms: 1500}"; then
    load mic /mic mic 6 8
    read -r d f < <(got "$T/mic.mic")
    check "mic: ${d:-0} /mic subscriptions came and went, ${f:-?} failed" [ "${d:-0}" -ge 12 -a "${f:-1}" -eq 0 ]
    stop mic
fi

# --- SIGTERM mid-stream ---
if start term 'endpoint: {silence_ms: 0, max_utterance_ms: 0}'; then
    load term / stream 8 0 &
    lp=$!
    sleep 3
    kill -TERM "$DPID"
    wait "$DPID"
    rc=$?
    DPID=
    wait $lp
    read -r d f < <(got "$T/term.stream")
    check "term: exit 0 after SIGTERM mid-stream (rc $rc; 66 = a ThreadSanitizer report)" [ $rc -eq 0 ]
    check "term: ${d:-0} of 8 streaming clients got their final result and close 1001 ($(tail -1 "$T/term.stream.err"))" \
        [ "${d:-0}" -eq 8 ]
    no_report term
fi
finish
