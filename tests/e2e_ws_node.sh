#!/bin/bash
# e2e_ws_node.sh - a Vosk-style client in Node (tests/ws_client.mjs, npm `ws` installed at test time
# into build/node_modules) against the real daemon on a loopback port: for 8, 16, 44.1 and 48 kHz
# WAV versions of the sample and several chunk sizes (odd ones split samples across
# messages), the WebSocket transcript equals `asrd --batch` of the same file with the same decoder
# (the shipped configuration's beam search with the en-us word LM: batch gets --lm default), and the
# session ends with a normal close (1000).  The model is the shipped one if present, else a tiny
# random model (garbage text, but deterministic, so equality is still a strict test).
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_tmp
[ -x build/asrd ] || { bad "build/asrd missing"; finish; }
command -v node >/dev/null || { bad "no node (Debian package nodejs: make deps-test)"; finish; }
if [ ! -d build/node_modules/ws ]; then
    npm install --prefix build --no-audit --no-fund --loglevel=error ws >/dev/null || { bad "npm install ws"; finish; }
fi
MODEL=model/asrd-en.model
[ -f "$MODEL" ] || { MODEL="$T/m.model"; build/tests/tool_mkmodel "$MODEL" --layers 2 --hidden 48 --seed 11 >/dev/null; }

ASRD=build/asrd
asrd_start d --config configs/asrd.yaml --model "$MODEL" --listen 127.0.0.1:0 || { bad "$START_ERR"; finish; }
port=$PORT

for rate in 8000 16000 44100 48000; do
    sox tests/data/sample.flac -r $rate -c 1 -b 16 "$T/s$rate.wav" pad 0 0.5
    want=$(build/asrd --batch --model "$MODEL" --lm default "$T/s$rate.wav")
    [ -n "$want" ] || echo "note: batch transcript of $rate Hz is empty"
    for chunk in 8000 3201 640; do
        got=$(node tests/ws_client.mjs "ws://127.0.0.1:$port/" "$T/s$rate.wav" --chunk $chunk --json)
        rc=$?
        text=$(echo "$got" | $PY -c 'import json,sys; print(json.load(sys.stdin)["text"])' 2>/dev/null)
        if [ $rc = 0 ] && [ "$text" = "$want" ]; then ok "$rate Hz, $chunk-byte chunks: == batch"
        else bad "$rate Hz, $chunk-byte chunks (rc $rc): '$text' vs batch '$want'"; fi
    done
done
# Errors: not a WAV; nothing listening.
node tests/ws_client.mjs "ws://127.0.0.1:$port/" tests/data/sample.flac 2>"$T/e1"; rc=$?
if [ $rc = 1 ] && grep -q 'not a RIFF/WAVE' "$T/e1"; then ok "non-WAV refused"; else bad "non-WAV: rc $rc"; fi
kill -TERM $DPID; wait $DPID; DPID=
node tests/ws_client.mjs "ws://127.0.0.1:$port/" "$T/s16000.wav" 2>"$T/e2"; rc=$?
if [ $rc = 1 ] && grep -q 'ECONNREFUSED' "$T/e2"; then ok "connection refused reported"; else bad "refused: rc $rc"; fi
finish
