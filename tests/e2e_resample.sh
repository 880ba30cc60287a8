#!/bin/bash
# e2e_resample.sh - the same samples at 8, 11.025, 22.05, 44.1 and 48 kHz give the same recognition
# through every way asrd takes audio in, whatever the chunking (the resampler, libsoxr, is fed so
# that its output does not depend on how the input is cut: tests/test_audio.c checks that sample by
# sample; this checks the three paths that feed it):
#  - batch on the WAV file (the reader resamples 4096-frame blocks);
#  - standard input (`asrd --batch -`), as WAV and as FLAC: stdout byte for byte the file's
#    (--format json: words, times and confidences);
#  - the WebSocket daemon, the client sending the file's PCM at its own rate (config sample_rate)
#    in odd, jittered and large chunks: the words and times equal batch's, and the confidences to
#    the 6 decimals the Vosk format prints.
# Model: a tiny random-weight model (tool_mkmodel): garbage text, but deterministic and sensitive to
# every sample, so equality is a strict test. Greedy decoding (batch's and the daemon's default).
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_bins "$ASRD" "$MK"
command -v sox >/dev/null || { bad "no sox (make deps-test)"; finish; }
e2e_tmp
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
M=(--model "$T/m.model")

# The daemon: greedy, no endpointing (one final result per session, as batch gives one per file).
printf 'endpoint: {silence_ms: 0, max_utterance_ms: 0}\n' >"$T/d.yaml"
asrd_start d --config "$T/d.yaml" "${M[@]}" --listen 127.0.0.1:0 || { bad "$START_ERR"; finish; }
U=ws://127.0.0.1:$PORT/

# ws_equals_batch WS_OUTPUT BATCH_JSON: the final result's words and times equal batch's, and its
# confidences batch's rounded to the 6 decimals the Vosk format prints.
ws_equals_batch() {
    $PY - "$1" "$2" <<'EOF'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
res = [w for m in msgs if isinstance(m.get("msg"), dict) and "result" in m["msg"] for w in m["msg"]["result"]]
b = json.loads(open(sys.argv[2]).read())
assert msgs[-1].get("close") == 1000, msgs[-1]
assert len(b["result"]) > 0 and len(res) == len(b["result"]), (len(res), len(b["result"]))
for x, y in zip(res, b["result"]):
    assert (x["word"], x["start"], x["end"]) == (y["word"], y["start"], y["end"]), (x, y)
    assert "%.6f" % x["conf"] == "%.6f" % y["conf"], (x, y)
assert msgs[-1]["text"] == b["text"], (msgs[-1]["text"], b["text"])
EOF
}

sox -D tests/data/sample.flac -c 1 -b 16 "$T/src.wav" pad 0.2 0.3
for rate in 8000 11025 22050 44100 48000; do
    f=$T/a$rate.wav
    sox -D "$T/src.wav" -r "$rate" -b 16 "$f"
    sox -D "$f" "$T/a$rate.flac"
    "$ASRD" --batch --format json "${M[@]}" "$f" 2>"$T/b.err" | sed 's/^{"file":"[^"]*",//' >"$T/b$rate.json"
    check "$rate Hz: batch gives words ($(head -c 120 "$T/b$rate.json"))" \
        $PY -c 'import json,sys; assert json.loads("{"+open(sys.argv[1]).read())["result"]' "$T/b$rate.json"
    for src in wav flac; do
        "$ASRD" --batch --format json "${M[@]}" - <"$T/a$rate.$src" 2>/dev/null |
            sed 's/^{"file":"[^"]*",//' >"$T/s.json"
        check "$rate Hz: stdin ($src) output = the file's, byte for byte" cmp -s "$T/s.json" "$T/b$rate.json"
    done
    sed 's/^/{/' "$T/b$rate.json" >"$T/bj.json"
    for c in "--chunk 1001" "--chunk 3000 --jitter" "--chunk 64000"; do
        # shellcheck disable=SC2086
        $PY tests/ws_client.py "$U" "$f" --rate "$rate" $c >"$T/o" 2>"$T/e"
        check "$rate Hz, WebSocket $c: result = batch's" ws_equals_batch "$T/o" "$T/bj.json"
    done
done
finish
