#!/bin/bash
# e2e_capture.sh - the real PortAudio capture path without a sound card.
#
# A test asoundrc (HOME override) defines "asrdtest": an ALSA `file` plugin whose capture side reads
# a raw 16-bit file (tests/data/sample.flac).  PortAudio lists it like any device, so daemon/capture
# opens it exactly as it opens a microphone.  The plugin is not paced (it delivers as fast as it is
# read), so PortAudio's ALSA backend sees overruns and skips whole periods: the check is therefore
# that every captured sample belongs to an exact run copied from the source, runs in increasing
# source order, and not that the capture is one continuous copy.  (arecord, which reads blocking,
# gets one continuous copy; the skipping is PortAudio's overrun recovery, not ours.)
#
# Checks: the device is listed; a 16 kHz capture is made of exact in-order runs of the source;
# a 48 kHz capture (ALSA converts up, capture_read converts back down) matches the source block by
# block (normalised correlation); the default device resolves to it; a missing device is retried
# with clear log lines and no ALSA/JACK noise on stderr; and the daemon's microphone feed: its
# transcript of the device reaches a WebSocket subscriber (a daemon without the feed fails).
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
TOOL=build/tests/tool_capture
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -x "$TOOL" ] || make -s "$TOOL" >/dev/null || { echo "cannot build $TOOL"; echo "0 passed, 1 failed"; exit 1; }

e2e_tmp
sox tests/data/sample.flac -r 16000 -c 1 -b 16 -e signed -t raw "$T/in.raw"
cat >"$T/.asoundrc" <<EOF
pcm.asrdtest {
  type asym
  playback.pcm "null"
  capture.pcm {
    type plug
    slave {
      pcm { type file  slave.pcm "null"  file "/dev/null"  infile "$T/in.raw"  format "raw" }
      format S16_LE
      rate 16000
      channels 1
    }
  }
}
EOF
export HOME="$T"

# Every captured sample lies in an exact copy of a source run; runs in increasing source order.
cat >"$T/runs.py" <<'EOF'
import sys, wave, numpy as np
src = np.fromfile(sys.argv[1], dtype='<i2')
w = wave.open(sys.argv[2]); x = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2')
K = 16
first = {}
for j in range(len(src) - K):
    first.setdefault(src[j:j+K].tobytes(), j)
i, covered, runs, last, order = 0, 0, 0, -1, True
while i <= len(x) - K:
    j = first.get(x[i:i+K].tobytes())
    if j is None:
        i += 1
        continue
    k = 0
    while i + k < len(x) and j + k < len(src) and x[i+k] == src[j+k]:
        k += 1
    if j <= last: order = False
    last = j + k - 1
    runs += 1; covered += k; i += k
print(len(x), covered, runs, int(order))
EOF
# Voiced 20 ms blocks of the capture vs the source: fraction with correlation > 0.9, in order.
cat >"$T/blocks.py" <<'EOF'
import sys, wave, numpy as np
src = np.fromfile(sys.argv[1], dtype='<i2').astype(np.float64)
w = wave.open(sys.argv[2]); x = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2').astype(np.float64)
B = 320
cs = np.concatenate([[0], np.cumsum(src * src)]); en = cs[B:] - cs[:-B]
tot = good = 0; pos = []
for i in range(0, len(x) - B + 1, B):
    b = x[i:i+B]; e = float(np.dot(b, b))
    if e < B * 300.0 ** 2: continue
    r = np.correlate(src, b, 'valid') / np.sqrt(en * e + 1e-9)
    j = int(np.argmax(r)); tot += 1
    if r[j] > 0.9: good += 1; pos.append(j)
order = all(pos[k + 1] >= pos[k] for k in range(len(pos) - 1))
print(tot, good, int(order))
EOF

# 1. The device is listed, and is the default (the only device here).
list=$("$TOOL" --list 2>"$T/list.err")
echo "$list"
if echo "$list" | grep -q 'asrdtest'; then ok "asrdtest listed"; else bad "asrdtest not listed"; fi
if echo "$list" | grep -q '^ *[0-9]\+\* asrdtest'; then ok "asrdtest is the default"; else bad "not default"; fi
if [ ! -s "$T/list.err" ]; then ok "no ALSA/JACK noise while listing"; else bad "stderr noise: $(head -3 "$T/list.err")"; fi

# 2. 16 kHz: exact runs of the source, in order.  1 s: the source (3 s) must not run out, since
#    the plugin repeats stale data after its end.
"$TOOL" --device asrdtest --seconds 1 "$T/c16.wav" 2>"$T/c16.err"; rc=$?
cat "$T/c16.err"
if [ $rc = 0 ] && grep -q 'recording from "asrdtest"' "$T/c16.err"; then ok "captured at 16 kHz"; else bad "16 kHz capture (rc $rc)"; fi
read -r n cov runs order < <($PY "$T/runs.py" "$T/in.raw" "$T/c16.wav")
echo "16 kHz: $n samples, $cov in $runs exact runs of the source, in order: $order"
if [ "${n:-0}" = 16000 ]; then ok "1 s captured"; else bad "captured ${n:-0} samples"; fi
if [ "${cov:-0}" = "${n:-1}" ] && [ "${order:-0}" = 1 ]; then ok "every sample from the source, in order"; else bad "capture differs from the source"; fi
if [ "${runs:-99}" -le 20 ]; then ok "runs are long (${runs})"; else bad "too fragmented: $runs runs"; fi
# Not asserted here: "dropped 0". The file plugin is not paced, so whether the ring overflows depends
# on how the scheduler treats this consumer (it did, by 1,152..226,432 samples, when the suite ran beside
# other CPU work). Drop counting is tested deterministically in test_capture (none with a reading
# consumer; kept + dropped = total with a stalled one).
echo "ring: $(grep -o 'dropped [0-9]*' "$T/c16.err") (informational)"

# 3. 48 kHz device rate: ALSA upsamples, capture_read downsamples (consumer-side resampler).
"$TOOL" --device asrdtest --device-rate 48000 --seconds 1 "$T/c48.wav" 2>"$T/c48.err"; rc=$?
cat "$T/c48.err"
if [ $rc = 0 ] && grep -q 'at 48000 Hz' "$T/c48.err"; then ok "device opened at 48 kHz"; else bad "48 kHz open (rc $rc)"; fi
read -r tot good order < <($PY "$T/blocks.py" "$T/in.raw" "$T/c48.wav")
echo "48 kHz: $good of $tot voiced blocks correlate > 0.9 with the source, in order: $order"
if [ "${tot:-0}" -ge 10 ] && [ $((good * 10)) -ge $((tot * 9)) ] && [ "${order:-0}" = 1 ]; then
    ok "resampled capture matches the source"; else bad "48 kHz capture does not match"; fi

# 4. Default device.
"$TOOL" --seconds 0.5 "$T/cdef.wav" 2>"$T/cdef.err"; rc=$?
if [ $rc = 0 ] && grep -q 'device asrdtest' "$T/cdef.err"; then ok "default device is asrdtest"; else bad "default device"; cat "$T/cdef.err"; fi

# 5. Missing device: logged, retried, no noise; the tool gives up after its own timeout.
"$TOOL" --device no-such-mic --seconds 0.2 "$T/none.wav" 2>"$T/none.err"; rc=$?
cat "$T/none.err"
if [ $rc != 0 ]; then ok "no samples from a missing device"; else bad "missing device gave samples"; fi
if grep -q 'no input device named "no-such-mic"' "$T/none.err" && [ "$(grep -c 'retrying in' "$T/none.err")" -ge 2 ]; then
    ok "clear log line and retries"; else bad "no retry log"; fi
if ! grep -v '^asrd: \|^captured ' "$T/none.err" | grep -q .; then ok "no ALSA/JACK noise on stderr"; else bad "noise on stderr"; fi

# 6. The daemon's microphone feed from the device reaches a WebSocket subscriber.
# The daemon's feed is built in: a binary without it (or without --device) fails, it is not skipped.
if [ ! -x build/asrd ]; then
    bad "no build/asrd (run make): the daemon's microphone feed not checked"
elif ! build/asrd --help 2>&1 | grep -q -- '--device'; then
    bad "build/asrd --help has no --device: the daemon's microphone feed is missing"
else
    # The shipped model if there is one (real words), else a tiny random one (garbage words: then
    # only the arrival of result messages is checked).
    MODEL=model/asrd-en.model
    if [ ! -f "$MODEL" ]; then
        MODEL="$T/m.model"
        build/tests/tool_mkmodel "$MODEL" --layers 2 --hidden 48 --seed 11 >/dev/null
    fi
    ASRD=build/asrd
    asrd_start d --config configs/asrd.yaml --model "$MODEL" --listen 127.0.0.1:0 --device asrdtest || bad "$START_ERR"
    port=$PORT
    $PY - "$port" >"$T/sub.out" 2>&1 <<'EOF'
import asyncio, json, sys, websockets
async def main():
    msgs = []
    async with websockets.connect(f"ws://127.0.0.1:{sys.argv[1]}/mic") as ws:
        try:
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 15))
                msgs.append(m)
                if "text" in m or "partial" in m:
                    print("TEXT", json.dumps(m)); return
        except Exception as e:
            print("ERR", repr(e), msgs[:3])
asyncio.run(main())
EOF
    cat "$T/sub.out"
    if grep -q '^TEXT' "$T/sub.out"; then ok "mic results reached a subscriber"; else bad "no mic results"; tail -5 "$T/d.log"; fi
    if [ "$MODEL" = model/asrd-en.model ]; then
        if grep -q '^TEXT.*"\(text\|partial\)": "[a-z]' "$T/sub.out"; then ok "mic transcript has words"; else bad "empty mic transcript"; fi
    fi
    if grep -q 'recording from "asrdtest"' "$T/d.log"; then ok "daemon captured from asrdtest"; else bad "daemon did not open asrdtest"; fi
    kill -TERM $DPID; wait $DPID; rc=$?; DPID=
    if [ $rc = 0 ]; then ok "daemon exits 0 on SIGTERM"; else bad "daemon exit $rc"; fi
fi

finish
