#!/bin/bash
# e2e_shutdown.sh - SIGTERM ends the daemon promptly whatever its microphone source is doing: the
# source is a FIFO (mic.source) with no writer, with a writer that holds it open and sends nothing,
# with a writer that stalls in the middle of a WAV, with a writer that sent something that is not
# audio and left (the capture retries, and used to block in open() for ever), and standard input
# from a writer that stalls. Each time: exit status 0 within 5 s of SIGTERM, "stopped" logged.
# And the hard deadline: with the cleanup blocked (a pthread_join shim), the process still ends 15 s
# after SIGTERM, exit status 1.
# Daemons run in a network namespace of the test's own when one can be made (loopback only).
# Ends with "N passed, N failed".
# test-timeout: 240
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$ASRD" "$MK"
e2e_tmp netns
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
sox tests/data/sample.flac -r 16000 -c 1 -b 16 "$T/a.wav" || { bad "sox failed"; finish; }

# start NAME ARGS...: starts the daemon (stdin from $STDIN or /dev/null), waits for "listening on";
# sets DPID
start() {
    local name=$1; shift
    asrd_start "$name" --model "$T/m.model" --listen 127.0.0.1:0 "$@" || { bad "$START_ERR"; return 1; }
}
# term NAME: SIGTERM after 1 s; the daemon must be gone within 5 s (waited for up to 25 s)
term() {
    local name=$1 t0 dt rc
    sleep 1
    t0=$(date +%s.%N)
    kill -TERM "$DPID"
    for _ in $(seq 250); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    dt=$($PY -c "import time; print(f'{time.time() - $t0:.1f}')")
    if kill -0 "$DPID" 2>/dev/null; then
        bad "$name: still running ${dt} s after SIGTERM (killed): $(tail -2 "$T/$name.log" | tr '\n' ' ')"
        kill -9 "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
        return
    fi
    wait "$DPID"
    rc=$?
    check "$name: exit 0 within 5 s of SIGTERM (rc $rc after ${dt} s)" \
        $PY -c "import sys; sys.exit(0 if $rc == 0 and $dt <= 5 else 1)"
    check "$name: 'stopped' logged" grep -q "stopped" "$T/$name.log"
}
# writer MODE FIFO: a background writer (holds the FIFO for 60 s unless MODE is garbage)
writer() {
    $PY - "$1" "$2" "$T/a.wav" <<'EOF' &
import os, sys, time
mode, fifo, wav = sys.argv[1:]
fd = os.open(fifo, os.O_WRONLY)  # blocks until the daemon opens its end
if mode == "stall":
    os.write(fd, open(wav, "rb").read()[:44 + 16000])  # the header and 0.5 s
elif mode == "garbage":
    os.write(fd, b"this is not audio\n" * 10)
    os.close(fd)
    sys.exit(0)
time.sleep(60)
EOF
    PIDS+=($!)
}

mkfifo "$T/f1" "$T/f2" "$T/f3" "$T/f4"
start nowriter --mic-source "$T/f1" && term nowriter
writer hold "$T/f2"
start silent --mic-source "$T/f2" && term silent
writer stall "$T/f3"
start stalled --mic-source "$T/f3" --json && term stalled
check "stalled: the feed ran (results on stdout)" grep -q "\"text\"" "$T/stalled.out"
writer garbage "$T/f4"
start garbage --mic-source "$T/f4" && sleep 1 && term garbage
check "garbage: the capture failed and retried (logged)" grep -q "retrying" "$T/garbage.log"
# standard input from a writer that sends half a second and then nothing
mkfifo "$T/in"
writer stall "$T/in"
STDIN="$T/in" start stdin --mic-source - && term stdin

# The hard deadline: a shim (LD_PRELOAD) makes every pthread_join block for ever, so the cleanup
# after SIGTERM cannot finish; the process must still be gone 15 s after SIGTERM, exit status 1,
# saying so on stderr.
cat >"$T/stall.c" <<'EOF'
#include <pthread.h>
#include <unistd.h>
int pthread_join(pthread_t t, void **r) { (void)t; (void)r; for (;;) pause(); }
EOF
if cc -shared -fPIC -o "$T/stall.so" "$T/stall.c"; then
    "${IN[@]}" env LD_PRELOAD="$T/stall.so" "$ASRD" --model "$T/m.model" --listen 127.0.0.1:0 \
        >/dev/null 2>"$T/hard.log" &
    DPID=$!
    PIDS+=("$DPID")
    for _ in $(seq 100); do grep -qs "listening on" "$T/hard.log" && break; sleep 0.05; done
    t0=$(date +%s.%N)
    kill -TERM "$DPID"
    for _ in $(seq 250); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    dt=$($PY -c "import time; print(f'{time.time() - $t0:.1f}')")
    if kill -0 "$DPID" 2>/dev/null; then
        bad "hard deadline: still running ${dt} s after SIGTERM with a blocked cleanup (killed)"
        kill -9 "$DPID"
        wait "$DPID" 2>/dev/null
    else
        wait "$DPID"
        rc=$?
        check "hard deadline: exit 1 14-18 s after SIGTERM (rc $rc after ${dt} s)" \
            $PY -c "import sys; sys.exit(0 if $rc == 1 and 14 <= $dt <= 18 else 1)"
        check "hard deadline: says so on stderr" grep -q "shutdown did not finish within 15 s" "$T/hard.log"
    fi
else
    bad "cc cannot build the pthread_join shim"
fi
finish
