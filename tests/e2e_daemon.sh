#!/bin/bash
# e2e_daemon.sh - the streaming daemon end to end: a real build/asrd on a loopback port (port 0, read
# back from its log) and real WebSocket clients (tests/ws_client.py on Debian's python3-websockets).
# Model: a tiny random-weight model from tool_mkmodel (garbage text, but deterministic, so the
# WebSocket transcript must equal `asrd --batch` exactly).
#  - 8, 16 and 44.1 kHz clients, odd/even/jittered chunk sizes: text == batch; word times == batch json;
#    phrase_list restricts words to the list; an empty list restores greedy (== batch)
#  - endpointing (max length, silence) splits results before eof
#  - bad input and limits, each beside a concurrent healthy session that must finish unaffected:
#    invalid JSON, unknown command, bad config value, unsupported rate (1003, also with audio in the
#    same read), message too big (1009),
#    max sessions (1013), idle timeout (1001), audio cap (1008 after a final result), bearer token
#  - SIGTERM mid-stream: the final result arrives, close 1001, exit 0
#  - config errors as file:line:column; /healthz; /metrics counters
#  - the microphone feed from a file source (when capture is built): stdout JSON lines and /mic
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ASRD=${ASRD_BIN:-$PWD/build/asrd} # ASRD_BIN: e.g. a sanitizer build
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
CL="$PY $PWD/tests/ws_client.py"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_bins "$ASRD" "$MK"
e2e_tmp
unset ASRD_MODEL

"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
M=(--model "$T/m.model")

# --- audio: speech at 16 kHz, and 8 / 44.1 kHz copies (each compared with batch on the same file) ---
if command -v espeak-ng >/dev/null; then
    espeak-ng -w "$T/raw.wav" "The quick brown fox jumps over the lazy dog. Gregson shoved back his chair." &&
        sox "$T/raw.wav" -r 16000 -c 1 -b 16 "$T/a16.wav"
else
    sox -n -r 16000 -c 1 -b 16 "$T/a16.wav" synth 1.5 sine 300 synth 1.5 sine 700 : synth 1.5 sine 500
fi
sox "$T/a16.wav" -r 8000 "$T/a8.wav"
sox "$T/a16.wav" -r 44100 "$T/a44.wav"
sox "$T/a16.wav" "$T/a16.wav" "$T/long.wav"   # ~10 s for the concurrent healthy session

batch() { "$ASRD" --batch "${M[@]}" "$1" 2>/dev/null; }

# start_daemon NAME CONFIG_TEXT [extra args]: sets PORT and DPID (log in $T/NAME.log)
start_daemon() {
    local name="$1" conf="$2"; shift 2
    printf '%s\n' "$conf" >"$T/$name.yaml"
    asrd_start "$name" --config "$T/$name.yaml" "${M[@]}" --listen 127.0.0.1:0 "$@" || { bad "$START_ERR"; return 1; }
}
# field FILE KEY: the last line's JSON field (close, reason, text, n_replies)
field() { tail -1 "$1" | $PY -c 'import json,sys; v=json.loads(sys.stdin.read()).get(sys.argv[1]); print("" if v is None else v)' "$2"; }
# count_msgs FILE KEY: messages with that key
count_msgs() { $PY -c 'import json,sys
n=0
for l in open(sys.argv[1]):
    o=json.loads(l).get("msg")
    if isinstance(o,dict) and sys.argv[2] in o: n+=1
print(n)' "$1" "$2"; }
has_error() { $PY -c 'import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l).get("msg")
    if isinstance(o,dict) and sys.argv[2] in o.get("error",""): sys.exit(0)
sys.exit(1)' "$1" "$2"; }

NOEP='endpoint: {silence_ms: 0, max_utterance_ms: 0}'

# ===== 1. transcripts equal batch: rates x chunk sizes =====
start_daemon eq "$NOEP" || finish
U=ws://127.0.0.1:$PORT/
for f in a8:8000 a16:16000 a44:44100; do
    n=${f%%:*} r=${f##*:}
    want=$(batch "$T/$n.wav")
    [ -n "$want" ] || bad "batch gave no text for $n (random model silent?)"
    for c in "--chunk 1001" "--chunk 8000" "--chunk 3000 --jitter" "--chunk 64000"; do
        $CL "$U" "$T/$n.wav" --rate "$r" $c >"$T/o" 2>"$T/e"
        check "$n $c: close 1000 ($(field "$T/o" close))" [ "$(field "$T/o" close)" = 1000 ]
        check "$n $c: text equals batch ('$(field "$T/o" text)' vs '$want')" [ "$(field "$T/o" text)" = "$want" ]
        nb=$(field "$T/o" n_binary_sent); nr=$(field "$T/o" n_replies)
        check "$n $c: one reply per chunk plus the final ($nr replies, $nb chunks)" [ "$nr" -eq $((nb + 1)) ]
    done
done
# word times and confidences equal batch --format json (to the 6 decimals Vosk prints)
$CL "$U" "$T/a44.wav" --rate 44100 --chunk 4410 >"$T/o" 2>/dev/null
"$ASRD" --batch "${M[@]}" --format json "$T/a44.wav" >"$T/bj" 2>/dev/null
check "word times/conf equal batch json" $PY - "$T/o" "$T/bj" <<'EOF'
import json, sys
ws = [json.loads(l)["msg"] for l in open(sys.argv[1]) if "msg" in json.loads(l)]
res = [w for m in ws if "result" in m for w in m["result"]]
b = json.loads(open(sys.argv[2]).read())["result"]
assert len(res) == len(b) and len(b) > 0, (len(res), len(b))
for x, y in zip(res, b):
    assert x["word"] == y["word"], (x, y)
    for k in ("start", "end", "conf"):
        assert abs(x[k] - y[k]) < 2e-6, (k, x, y)
EOF
# words off: results carry only "text"
$CL "$U" "$T/a16.wav" --words 0 >"$T/o" 2>/dev/null
check "words false: no result arrays" [ "$(count_msgs "$T/o" result)" = 0 ]
check "words false: text still equals batch" [ "$(field "$T/o" text)" = "$(batch "$T/a16.wav")" ]
# reset mid-stream: a result before eof, session goes on to the normal close
$CL "$U" "$T/a16.wav" --chunk 8000 --send '{"reset" : 1}' >"$T/o" 2>/dev/null
if [ "$(count_msgs "$T/o" text)" -ge 2 ] && [ "$(field "$T/o" close)" = 1000 ]; then ok; else bad "reset answered with a result, close 1000"; fi
# phrase_list: closed-vocabulary beam search; every word is one of the phrases' words
$CL "$U" "$T/a16.wav" --chunk 4000 --send '{"config" : {"phrase_list" : ["yes no", "maybe later"]}}' >"$T/o" 2>/dev/null
if [ "$(field "$T/o" close)" = 1000 ] && ! grep -q '"error"' "$T/o"; then ok; else bad "phrase_list: close 1000, no error ($(field "$T/o" close))"; fi
check "phrase_list: result words only from the list ('$(field "$T/o" text)')" $PY - "$T/o" <<'EOF2'
import json, sys
vocab = {"yes", "no", "maybe", "later"}
msgs = [json.loads(l)["msg"] for l in open(sys.argv[1]) if "msg" in json.loads(l)]
words = [w for m in msgs if "text" in m for w in m["text"].split()]
assert words and set(words) <= vocab, words
# partials may end in a word still being spelt: a prefix of a vocabulary word
part = [w for m in msgs if "partial" in m for w in m["partial"].split()]
assert all(any(v.startswith(w) for v in vocab) for w in part), part
EOF2
# an empty phrase_list goes back to greedy decoding: the batch transcript again
$CL "$U" "$T/a16.wav" --send '{"config" : {"phrase_list" : ["yes"]}}' --send '{"config" : {"phrase_list" : []}}' >"$T/o" 2>/dev/null
check "empty phrase_list: greedy again" [ "$(field "$T/o" text)" = "$(batch "$T/a16.wav")" ]
# a client that names a subprotocol also works
$CL "$U" "$T/a16.wav" --subprotocol asrd >"$T/o" 2>/dev/null
check "subprotocol asrd works" [ "$(field "$T/o" text)" = "$(batch "$T/a16.wav")" ]
kill -TERM "$DPID"; wait "$DPID"; rc=$?
check "clean exit 0 after SIGTERM when idle (rc=$rc)" [ $rc -eq 0 ]

# ===== 2. endpointing =====
start_daemon ep 'endpoint: {silence_ms: 0, max_utterance_ms: 1000}' || finish
$CL "ws://127.0.0.1:$PORT/" "$T/a16.wav" --chunk 3200 >"$T/o" 2>/dev/null
dur=$(soxi -D "$T/a16.wav")
nres=$(count_msgs "$T/o" text)
check "max_utterance_ms 1000: >= $(printf %.0f "$dur") results for $dur s (got $nres)" \
    $PY -c "import sys; sys.exit(0 if $nres >= int($dur) else 1)"
check "max length: results before eof, times increase" $PY - "$T/o" <<'EOF'
import json, sys
msgs = [json.loads(l)["msg"] for l in open(sys.argv[1]) if "msg" in json.loads(l)]
assert any("text" in m for m in msgs[:-1]), "no result before the final one"
t = -1
for m in msgs:
    for w in m.get("result", []):
        assert w["start"] >= t - 1e-9 and w["end"] >= w["start"], w
        t = w["start"]
EOF
kill -TERM "$DPID"; wait "$DPID"
# silence: with blank_prob 0 every frame counts as silence, so an utterance ends as soon as it has
# text and 300 ms passed; results are never empty (an utterance without text does not end)
start_daemon sil 'endpoint: {silence_ms: 300, max_utterance_ms: 0, blank_prob: 0}' || finish
$CL "ws://127.0.0.1:$PORT/" "$T/a16.wav" --chunk 3200 >"$T/o" 2>/dev/null
check "silence endpointing: several non-empty results" $PY - "$T/o" <<'EOF'
import json, sys
msgs = [json.loads(l)["msg"] for l in open(sys.argv[1]) if "msg" in json.loads(l)]
res = [m for m in msgs[:-1] if "text" in m]
assert len(res) >= 2 and all(m["text"] for m in res), res
EOF
kill -TERM "$DPID"; wait "$DPID"

# ===== 3. bad input and limits beside a healthy session =====
start_daemon lim "$NOEP
limits: {max_sessions: 4, max_message_bytes: 65536, idle_timeout_s: 2, max_audio_s: 2}" || finish
U=ws://127.0.0.1:$PORT/
# the healthy session streams 1.9 s of audio (under the 2 s cap) at 0.1x real time (~19 s, a chunk
# every 0.5 s, so never idle) across every bad case below (on a loaded machine they take > 10 s).
sox "$T/long.wav" "$T/h.wav" trim 0 1.9
$CL "$U" "$T/h.wav" --chunk 1600 --pace 0.1 >"$T/healthy" 2>"$T/healthy.err" &
HP=$!
sleep 0.3
# max sessions 4: the healthy one + 3 holders (each sends a chunk every 0.5 s, so not idle); a 5th,
# once the 4 are open (a client takes a while to start on a loaded machine), gets 1013. First, while
# the healthy session surely runs; the bad cases below start once the holders are done.
HOLD=()
for i in 1 2 3; do
    $CL "$U" "$T/h.wav" --chunk 8000 --pace 0.5 --max-seconds 20 >"$T/hold$i" 2>/dev/null &
    HOLD+=($!)
done
open_now() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^asrd_sessions_open //p'; }
for _ in $(seq 100); do [ "$(open_now)" = 4 ] && break; sleep 0.1; done
n_open=$(open_now)
$CL "$U" "$T/h.wav" >"$T/o" 2>/dev/null
check "5th session: close 1013 ($(field "$T/o" close); $n_open open before it)" [ "$(field "$T/o" close)" = 1013 ]
wait "${HOLD[@]}"
for i in 1 2 3; do
    check "holder $i: close 1000" [ "$(field "$T/hold$i" close)" = 1000 ]
done
$CL "$U" "$T/a16.wav" --send 'this is not json' --chunk 8000 >"$T/o1" 2>/dev/null &
P1=$!
$CL "$U" "$T/h.wav" --send '{"hello" : 1}' --chunk 8000 >"$T/o2" 2>/dev/null &
P2=$!
$CL "$U" "$T/h.wav" --send '{"config" : {"sample_rate" : "fast"}}' --chunk 8000 >"$T/o3" 2>/dev/null &
P3=$!
wait $P1 $P2 $P3
check "invalid JSON: error message" has_error "$T/o1" "invalid JSON"
check "invalid JSON: no disconnect, audio cap then 1008" [ "$(field "$T/o1" close)" = 1008 ]
check "unknown command: error message" has_error "$T/o2" "unknown command"
check "unknown command: session goes on to close 1000" [ "$(field "$T/o2" close)" = 1000 ]
check "unknown command: transcript still right" [ "$(field "$T/o2" text)" = "$(batch "$T/h.wav")" ]
check "bad config value: error message" has_error "$T/o3" "sample_rate"
check "bad config value: close 1000" [ "$(field "$T/o3" close)" = 1000 ]
# audio cap (2 s): the final result comes, then 1008
$CL "$U" "$T/a16.wav" --chunk 8000 >"$T/o" 2>/dev/null
check "audio cap: close 1008 ($(field "$T/o" close))" [ "$(field "$T/o" close)" = 1008 ]
check "audio cap: a final result before the close" [ "$(count_msgs "$T/o" text)" -ge 1 ]
# unsupported sample rate
$CL "$U" "$T/a16.wav" --rate 4000 >"$T/o" 2>/dev/null
check "rate 4000: close 1003 ($(field "$T/o" close))" [ "$(field "$T/o" close)" = 1003 ]
check "rate 4000: reason names the range" grep -q "unsupported sample rate 4000" "$T/o"
# the same with the config and the first audio in one TCP segment (one server read): the close must
# not lose the audio that follows the refused config in lws's buffer (it used to end in 1006)
$CL "$U" "$T/a16.wav" --rate 4000 --cork >"$T/o" 2>/dev/null
check "rate 4000, audio in the same read: close 1003 ($(field "$T/o" close))" [ "$(field "$T/o" close)" = 1003 ]
check "rate 4000, audio in the same read: reason" grep -q "unsupported sample rate 4000" "$T/o"
# message too big (65536 limit)
$CL "$U" "$T/a16.wav" --chunk 100000 >"$T/o" 2>/dev/null
check "100 kB message: close 1009 ($(field "$T/o" close))" [ "$(field "$T/o" close)" = 1009 ]
# idle timeout (2 s): connect, send nothing
$CL "$U" --no-eof --max-seconds 10 >"$T/o" 2>/dev/null
check "idle: close 1001 ($(field "$T/o" close) $(field "$T/o" reason))" [ "$(field "$T/o" close)" = 1001 ]
check "idle: reason" grep -q "idle timeout" "$T/o"
wait $HP
check "healthy session: close 1000 ($(field "$T/healthy" close))" [ "$(field "$T/healthy" close)" = 1000 ]
check "healthy session: transcript equals batch" [ "$(field "$T/healthy" text)" = "$(batch "$T/h.wav")" ]
# /healthz and /metrics
check "/healthz says ok" [ "$(curl -s "http://127.0.0.1:$PORT/healthz")" = ok ]
curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
check "/metrics: sessions_total counts every session" $PY - "$T/metrics" <<'EOF'
import sys
m = {}
for l in open(sys.argv[1]):
    if l.startswith("#") or not l.strip():
        continue
    k, v = l.rsplit(" ", 1)
    m[k] = float(v)
assert m["asrd_sessions_total"] == 12, m  # healthy, 3 bad-message, cap, 2 rate, too big, idle, 3 holders
assert m["asrd_sessions_open"] == 0, m
assert m["asrd_audio_seconds_total"] > 10, m
for kind in ("invalid_json", "unknown_command", "bad_config", "unsupported_rate", "message_too_big",
             "too_many_sessions", "idle_timeout", "audio_cap"):
    assert m['asrd_errors_total{kind="%s"}' % kind] >= 1, kind
assert m['asrd_errors_total{kind="internal"}'] == 0, m
assert 0 < m["asrd_real_time_factor"] < 10, m
EOF
check "/nothing is 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nothing/here")" = 404 ]
kill -TERM "$DPID"; wait "$DPID"

# ===== 4. bearer token =====
start_daemon auth "auth: {token: s3cret}" || finish
U=ws://127.0.0.1:$PORT/
$CL "$U" "$T/a16.wav" >"$T/o" 2>/dev/null
check "no token: refused" grep -q refused "$T/o"
$CL "$U" "$T/a16.wav" --token wrong >"$T/o" 2>/dev/null
check "wrong token: refused" grep -q refused "$T/o"
$CL "$U" "$T/a16.wav" --token s3cret >"$T/o" 2>/dev/null
check "header token: works" [ "$(field "$T/o" text)" = "$(batch "$T/a16.wav")" ]
$CL "${U}?token=s3cret" "$T/a16.wav" >"$T/o" 2>/dev/null
check "query token: works" [ "$(field "$T/o" close)" = 1000 ]
check "/healthz needs no token" [ "$(curl -s "http://127.0.0.1:$PORT/healthz")" = ok ]
kill -TERM "$DPID"; wait "$DPID"

# ===== 5. SIGTERM mid-stream =====
start_daemon term "$NOEP" || finish
$CL "ws://127.0.0.1:$PORT/" "$T/long.wav" --chunk 3200 --pace 1 --signal-pid "$DPID" --signal-after 10 \
    --max-seconds 30 >"$T/o" 2>/dev/null
wait "$DPID"; rc=$?
check "SIGTERM: daemon exits 0 (rc=$rc)" [ $rc -eq 0 ]
check "SIGTERM: close 1001 ($(field "$T/o" close))" [ "$(field "$T/o" close)" = 1001 ]
check "SIGTERM: the final result arrived" [ "$(count_msgs "$T/o" text)" -ge 1 ]
check "SIGTERM: log says stopping" grep -q "stopping" "$T/term.log"

# ===== 6. configuration errors =====
printf 'threads: 2\nlimits:\n  max_sesions: 5\n' >"$T/bad1.yaml"
"$ASRD" --config "$T/bad1.yaml" "${M[@]}" 2>"$T/err"; rc=$?
check "unknown key: exit 2 (rc=$rc)" [ $rc -eq 2 ]
check "unknown key: file:line:column ($(cat "$T/err"))" grep -q "bad1.yaml:3:3: unknown key 'limits.max_sesions'" "$T/err"
printf 'endpoint:\n  silence_ms: -5\n' >"$T/bad2.yaml"
"$ASRD" --config "$T/bad2.yaml" "${M[@]}" 2>"$T/err"; rc=$?
check "out of range: file:line:column ($(cat "$T/err"))" grep -q "bad2.yaml:2:15: endpoint.silence_ms: -5 is out of range" "$T/err"
printf 'threads: many\n' >"$T/bad3.yaml"
"$ASRD" --config "$T/bad3.yaml" "${M[@]}" 2>"$T/err"; rc=$?
check "wrong type: file:line:column ($(cat "$T/err"))" grep -q "bad3.yaml:1:10: threads: expected an integer" "$T/err"
"$ASRD" --config "$T/none.yaml" "${M[@]}" 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "none.yaml" "$T/err"; then ok; else bad "missing config file: exit 2, named"; fi
"$ASRD" --listen 127.0.0.1:99999 "${M[@]}" 2>"$T/err"; rc=$?
check "bad --listen: exit 2" [ $rc -eq 2 ]
"$ASRD" --batch --listen :1 "${M[@]}" "$T/a16.wav" 2>"$T/err"; rc=$?
check "daemon option with --batch: exit 2" [ $rc -eq 2 ]
"$ASRD" --config configs/asrd.yaml --model "$T/missing.model" --listen 127.0.0.1:0 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "missing.model" "$T/err"; then ok; else bad "missing model: exit 1, named"; fi

# ===== 7. microphone feed from a file source =====
# The feed is built in: a binary without it fails here instead of skipping.
check "asrd has the microphone feed (--mic-source in --help)" grep -q -- '--mic-source' <("$ASRD" --help 2>&1)
if start_daemon mic "$NOEP" --mic-source "$T/a16.wav" --json; then
    $CL "ws://127.0.0.1:$PORT/mic" --listen --max-seconds 8 >"$T/o" 2>/dev/null
    kill -TERM "$DPID"; wait "$DPID"
    want=$(batch "$T/a16.wav")
    got=$($PY -c 'import json,sys
print(" ".join(json.loads(l)["text"] for l in open(sys.argv[1]) if json.loads(l).get("text")))' "$T/mic.out")
    check "mic: batch has a transcript to compare with" [ -n "$want" ]
    check "mic stdout JSON lines: text equals batch ('$got')" [ "$got" = "$want" ]
    check "mic subscriber got partials" [ "$(count_msgs "$T/o" partial)" -ge 1 ]
    check "mic subscriber got the final text" [ "$(field "$T/o" text)" = "$want" ]
fi

finish
