#!/bin/bash
# e2e_daemon_tls.sh - the daemon with TLS from its configuration (tls.cert, tls.key): a self-signed
# certificate made here with openssl; a wss:// Vosk session (tests/ws_client.py) gets the same
# transcript as `asrd --batch` and a normal close; GET /healthz over https answers; a plain ws://
# client on the TLS port gets no session; a key file that does not exist fails start-up naming it.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
CL="$PY $PWD/tests/ws_client.py"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$ASRD" "$MK"
command -v openssl >/dev/null || { bad "openssl missing"; finish; }
e2e_tmp
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
sox tests/data/sample.flac -r 16000 -c 1 -b 16 "$T/a.wav" || { bad "sox failed"; finish; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || { bad "openssl req failed"; finish; }

start() { # start CONFIG_TEXT: sets PORT and DPID (log in $T/d.log), or returns 1
    printf '%s\n' "$1" >"$T/c.yaml"
    asrd_start d --config "$T/c.yaml" --model "$T/m.model" --listen 127.0.0.1:0
}
field() { tail -1 "$1" | $PY -c 'import json,sys; v=json.loads(sys.stdin.read()).get(sys.argv[1]); print("" if v is None else v)' "$2"; }

want=$("$ASRD" --batch --model "$T/m.model" "$T/a.wav" 2>/dev/null)
NOEP='endpoint: {silence_ms: 0, max_utterance_ms: 0}'
if start "tls: {cert: $T/cert.pem, key: $T/key.pem}
$NOEP"; then
    ok
    check "log says TLS ($(grep listening "$T/d.log"))" grep -q "https://\|TLS" "$T/d.log"
    $CL "wss://127.0.0.1:$PORT/" "$T/a.wav" --rate 16000 --chunk 8000 >"$T/o" 2>"$T/e"
    check "wss session closes 1000 ($(tail -1 "$T/o"))" [ "$(field "$T/o" close)" = 1000 ]
    check "wss transcript equals batch ('$(field "$T/o" text)' vs '$want')" [ "$(field "$T/o" text)" = "$want" ]
    code=$(curl -sk -o "$T/h" -w '%{http_code}' "https://127.0.0.1:$PORT/healthz")
    check "https /healthz answers 200 (got $code)" [ "$code" = 200 ]
    $CL "ws://127.0.0.1:$PORT/" "$T/a.wav" --rate 16000 >"$T/p" 2>&1
    check "plain ws:// on the TLS port gets no transcript ($(tail -1 "$T/p"))" \
        bash -c "! grep -q '\"close\": 1000' '$T/p'"
    kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=
else
    bad "daemon with TLS did not start: $(cat "$T/d.log")"
fi
if start "tls: {cert: $T/cert.pem, key: $T/nokey.pem}"; then
    bad "daemon started with a missing TLS key"
    kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=
else
    wait "$DPID" 2>/dev/null; DPID=
    check "missing key named in the start-up error ($(tail -2 "$T/d.log"))" grep -q "nokey.pem" "$T/d.log"
fi
finish
