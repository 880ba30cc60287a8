#!/bin/bash
# e2e_daemon_lm.sh - the daemon's configured decoder end to end: a real build/asrd with a tiny
# random-weight model (tool_mkmodel) and the toy ARPA LM tests/data/toy.arpa (converted with --lm-convert),
# real WebSocket clients (tests/ws_client.py). Checks that
#  - with `decoder: {kind: beam, lm: ...}` in the configuration, a session's transcript equals
#    `asrd --batch` with the same decoder settings on the same file (binary and ARPA LM, open and
#    closed vocabulary, several chunk sizes and two sample rates), and differs from greedy where
#    batch's does (so the daemon did not silently decode greedily);
#  - the flags --decoder/--lm/--beam/--lm-weight/--word-bonus override the file;
#  - a phrase_list still gets its closed-vocabulary search (only phrase words come out), and an
#    empty one returns to the configured decoder;
#  - a missing, truncated or malformed LM or a damaged header fails start-up (exit 1) with a message
#    naming the file; a damaged n-gram table (caught by the payload checksum, which runs after
#    READY) stops the daemon with exit 1 and a message naming the file.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
CL="$PY $PWD/tests/ws_client.py"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_bins "$ASRD" "$MK"
e2e_tmp
unset ASRD_MODEL

"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
M=(--model "$T/m.model")

# Audio: the bundled speech sample at 16 kHz and 8 kHz (mono 16-bit WAV for the client).
sox tests/data/sample.flac -r 16000 -c 1 -b 16 "$T/a16.wav" || { bad "sox failed"; finish; }
sox "$T/a16.wav" -r 8000 "$T/a8.wav"

cp tests/data/toy.arpa "$T/toy.arpa" # a toy LM over short words: tests/data/README.md
"$ASRD" --lm-convert "$T/toy.arpa" "$T/toy.lmbin"
check "--lm-convert of the toy LM" test $? -eq 0 -a -s "$T/toy.lmbin"

batch() { "$ASRD" --batch "${M[@]}" "$@" 2>/dev/null; }

# start_daemon NAME CONFIG_TEXT [extra args]: sets PORT and DPID (log in $T/NAME.log)
start_daemon() {
    local name="$1" conf="$2"; shift 2
    printf '%s\n' "$conf" >"$T/$name.yaml"
    asrd_start "$name" --config "$T/$name.yaml" "${M[@]}" --listen 127.0.0.1:0 "$@" || { bad "$START_ERR"; return 1; }
}
stop_daemon() { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; }
# field FILE KEY: the client's last line's JSON field (close, text, ...)
field() { tail -1 "$1" | $PY -c 'import json,sys; v=json.loads(sys.stdin.read()).get(sys.argv[1]); print("" if v is None else v)' "$2"; }

# One utterance per session (no endpointing): the LM context then spans the whole file, as in batch.
NOEP='endpoint: {silence_ms: 0, max_utterance_ms: 0}'

# compare NAME "BATCH DECODER FLAGS" CHUNKS...: sessions on daemon NAME (running) vs batch.
compare() {
    local name="$1" flags="$2"; shift 2
    local f n r want c
    for f in a16:16000 a8:8000; do
        n=${f%%:*} r=${f##*:}
        # shellcheck disable=SC2086
        want=$(batch $flags "$T/$n.wav")
        [ -n "$want" ] || bad "$name: batch gave no text for $n with $flags"
        for c in "$@"; do
            $CL "ws://127.0.0.1:$PORT/" "$T/$n.wav" --rate "$r" $c >"$T/o" 2>"$T/e"
            check "$name $n $c: close 1000 ($(field "$T/o" close))" [ "$(field "$T/o" close)" = 1000 ]
            check "$name $n $c: text equals batch $flags ('$(field "$T/o" text)' vs '$want')" \
                [ "$(field "$T/o" text)" = "$want" ]
        done
    done
}

greedy16=$(batch "$T/a16.wav")

# ===== 1. decoder: beam with the binary LM from the configuration file, open vocabulary =====
start_daemon beam "$NOEP
decoder:
  kind: beam
  lm: $T/toy.lmbin
  beam: 8
  lm_weight: 1.5
  word_bonus: 2
  unk_penalty: -4" || finish
check "start-up log names the beam decoder and the LM" grep -q "decoder: beam 8, LM $T/toy.lmbin" "$T/beam.log"
compare beam "--decoder beam --lm $T/toy.lmbin --beam 8 --lm-weight 1.5 --word-bonus 2 --unk-penalty -4" \
    "--chunk 8000" "--chunk 1001" "--chunk 3000 --jitter"
beam16=$(batch --lm "$T/toy.lmbin" --beam 8 --lm-weight 1.5 --word-bonus 2 --unk-penalty -4 "$T/a16.wav")
check "batch beam differs from greedy on this file ('$beam16' vs '$greedy16')" [ "$beam16" != "$greedy16" ]

# Several sessions at once share the one LM: each still equals batch.
CPIDS=()
for i in 1 2 3; do
    $CL "ws://127.0.0.1:$PORT/" "$T/a16.wav" --rate 16000 --chunk 4000 >"$T/p$i" 2>/dev/null &
    CPIDS+=($!)
done
wait "${CPIDS[@]}"
for i in 1 2 3; do
    check "concurrent session $i equals batch ('$(field "$T/p$i" text)')" [ "$(field "$T/p$i" text)" = "$beam16" ]
done

# A phrase list still uses its own closed-vocabulary search over the phrase words.
$CL "ws://127.0.0.1:$PORT/" "$T/a16.wav" --send '{"config": {"sample_rate": 16000, "phrase_list": ["zebra", "yes no"]}}' \
    >"$T/o" 2>/dev/null
ptext=$(field "$T/o" text)
check "phrase list: only phrase words ('$ptext')" bash -c '[ -z "$(tr " " "\n" <<<"$1" | grep -v "^$" | grep -vxE "zebra|yes|no")" ]' _ "$ptext"
# An empty phrase list switches back to the configured decoder (not to greedy).
$CL "ws://127.0.0.1:$PORT/" "$T/a16.wav" --send '{"config": {"sample_rate": 16000, "phrase_list": ["zebra"]}}' \
    --send '{"config": {"phrase_list": []}}' >"$T/o" 2>/dev/null
check "empty phrase list: back to the configured beam ('$(field "$T/o" text)')" [ "$(field "$T/o" text)" = "$beam16" ]
stop_daemon

# ===== 2. closed vocabulary from the ARPA text directly =====
start_daemon closed "$NOEP
decoder: {kind: beam, lm: $T/toy.arpa, closed_vocab: true, lm_weight: 1, word_bonus: 3}" || finish
compare closed "--decoder beam --lm $T/toy.arpa --closed-vocab --lm-weight 1 --word-bonus 3" "--chunk 8000"
closed16=$(batch --lm "$T/toy.arpa" --closed-vocab --lm-weight 1 --word-bonus 3 "$T/a16.wav")
check "closed vocabulary: only LM words ('$closed16')" \
    bash -c '[ -z "$(tr " " "\n" <<<"$1" | grep -v "^$" | grep -vxE "a|i|the|to|it|at|tea")" ]' _ "$closed16"
# The check above only proves the daemon ran the beam search if greedy says something else.
check "batch beam differs from greedy on this file ('$closed16' vs '$greedy16')" [ "$closed16" != "$greedy16" ]
stop_daemon

# ===== 3. flags override the file: the file says greedy, the command line beam =====
start_daemon flags "$NOEP
decoder: {kind: greedy, beam: 3, lm_weight: 9}" --lm "$T/toy.lmbin" --beam 6 --lm-weight 0.7 --word-bonus 1.5 \
    --closed-vocab || finish
compare flags "--lm $T/toy.lmbin --beam 6 --lm-weight 0.7 --word-bonus 1.5 --closed-vocab" "--chunk 8000"
stop_daemon
# and --decoder greedy wins over the file's beam (the LM is then not loaded)
start_daemon greedy "$NOEP
decoder: {kind: beam, lm: $T/toy.lmbin}" --decoder greedy || finish
check "--decoder greedy: warns that the LM is not loaded" grep -q "not loaded" "$T/greedy.log"
compare greedy "" "--chunk 8000"
stop_daemon

# ===== 4. a bad LM fails start-up naming the file =====
startup_fails() { # startup_fails DESCRIPTION PATTERN CONFIG_TEXT [args]
    local d="$1" pat="$2" conf="$3"; shift 3
    printf '%s\n' "$conf" >"$T/bad.yaml"
    timeout 20 "$ASRD" --config "$T/bad.yaml" "${M[@]}" --listen 127.0.0.1:0 "$@" >/dev/null 2>"$T/err"
    local rc=$?
    check "$d: exit 1 (got $rc)" [ $rc -eq 1 ]
    check "$d: message names the file: $(grep -i error "$T/err" | head -2)" grep -q "$pat" "$T/err"
    check "$d: never listened" bash -c '! grep -q "listening on" "$1"' _ "$T/err"
}
startup_fails "missing LM in the file" "$T/missing.lmbin" "decoder: {kind: beam, lm: $T/missing.lmbin}"
startup_fails "missing LM by --lm" "$T/nope.arpa" "$NOEP" --lm "$T/nope.arpa"
cp "$T/toy.lmbin" "$T/corrupt.lmbin"
printf '\xff' | dd of="$T/corrupt.lmbin" bs=1 seek=30 conv=notrunc 2>/dev/null
startup_fails "corrupt binary LM header" "corrupt.lmbin.*checksum" "decoder: {kind: beam, lm: $T/corrupt.lmbin}"
head -c 300 "$T/toy.lmbin" >"$T/short.lmbin"
startup_fails "truncated binary LM" "short.lmbin.*truncated" "decoder: {kind: beam, lm: $T/short.lmbin}"
# A damaged n-gram table passes the start-up checks (the payload checksum reads the whole file, so
# it runs in the background after READY): the daemon listens, then stops with exit 1 naming the file.
cp "$T/toy.lmbin" "$T/table.lmbin"
size=$(stat -c %s "$T/table.lmbin")
printf '\x7f' | dd of="$T/table.lmbin" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
printf 'decoder: {kind: beam, lm: %s}\n' "$T/table.lmbin" >"$T/bad.yaml"
timeout 20 "$ASRD" --config "$T/bad.yaml" "${M[@]}" --listen 127.0.0.1:0 >/dev/null 2>"$T/err"
rc=$?
check "corrupt n-gram table: the daemon stops with exit 1 (got $rc)" [ $rc -eq 1 ]
check "corrupt n-gram table: message names the file: $(grep -i error "$T/err" | head -2)" \
    grep -q "decoder.lm: .*table.lmbin: checksum mismatch (file corrupt): stopping" "$T/err"
sed 's/^-1.0\ti\t-0.2/-1.0x\ti\t-0.2/' "$T/toy.arpa" > "$T/broken.arpa"
startup_fails "malformed ARPA LM" "broken.arpa:9:" "decoder: {kind: beam, lm: $T/broken.arpa}"

# Configuration errors in the decoder section: exit 2 with file:line:column.
printf 'decoder:\n  kind: beam\n  beam: 0\n' >"$T/badkey.yaml"
"$ASRD" --config "$T/badkey.yaml" "${M[@]}" --listen 127.0.0.1:0 >/dev/null 2>"$T/err"
rc=$?
check "decoder.beam: 0 -> exit 2 (got $rc)" [ $rc -eq 2 ]
check "decoder.beam: 0 -> file:line:column ($(cat "$T/err"))" grep -q "badkey.yaml:3:9: decoder.beam" "$T/err"
"$ASRD" "${M[@]}" --listen 127.0.0.1:0 --beam x >/dev/null 2>"$T/err"
check "--beam x is a usage error in daemon mode" test $? -eq 2
finish
