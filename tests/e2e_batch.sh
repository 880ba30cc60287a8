#!/bin/bash
# e2e_batch.sh - drives build/asrd --batch end to end with a tiny random-weight model (made by
# build/tests/tool_mkmodel: its transcripts are garbage but deterministic) on audio made here with
# espeak-ng and sox: format agreement (WAV = FLAC = stdin for the same samples; OGG just runs), bad
# files (one error line each, others still transcribed, exit 1), json/srt/vtt structure, manifest
# order and --score figures against an independent computation, --threads, --help, --version.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ASRD=$PWD/build/asrd
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_bins "$ASRD" "$MK"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset ASRD_MODEL

# --- a tiny model (random weights, fixed seed) ---
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }
M=(--model "$T/m.model")

# --- test audio ---
say() { # say OUT.wav "text": 16 kHz mono 16-bit WAV
    if command -v espeak-ng >/dev/null; then
        espeak-ng -w "$T/raw.wav" "$2" && sox "$T/raw.wav" -r 16000 -c 1 -b 16 "$1"
    else # fallback: a few tones, still deterministic
        sox -n -r 16000 -c 1 -b 16 "$1" synth 0.4 sine 300 synth 0.4 sine 700 : synth 0.5 sine 500
    fi
}
say "$T/a.wav" "The quick brown fox jumps over the lazy dog."
say "$T/b.wav" "Gregson shoved back his chair and rose to his feet."
say "$T/c.wav" "It is twenty past nine on a cold Tuesday morning."
sox "$T/a.wav" "$T/a.flac"                      # same samples, lossless
sox "$T/a.wav" -r 8000 "$T/a8.wav"              # 8 kHz: through the resampler
sox "$T/a8.wav" "$T/a8.flac"
sox "$T/a.wav" -C 3 "$T/a.ogg"                  # lossy
cp tests/data/sample.flac "$T/sample.flac"

# --- lossless formats agree exactly (json carries times and confidences: a strong comparison) ---
# same WHAT A B: A equals B and A has some text (a word of a transcript): two empty outputs, or two
# JSON objects with an empty "text", prove nothing, so they fail.
same() {
    if [ "$2" != "$3" ]; then bad "$1: outputs differ"
    elif ! grep -q '[a-z]' <<<"$(sed 's/"text":""//; s/"[a-z]*"://g' <<<"$2")"; then bad "$1: no transcript to compare"
    else ok; fi
}
j() { "$ASRD" --batch "${M[@]}" --format json "$@" 2>"$T/err" | sed 's/^{"file":"[^"]*",//'; }
same "wav vs flac (16 kHz)" "$(j "$T/a.wav")" "$(j "$T/a.flac")"
same "wav vs stdin (wav)" "$(j "$T/a.wav")" "$(j - <"$T/a.wav")"
same "wav vs stdin (flac)" "$(j "$T/a.wav")" "$(j - <"$T/a.flac")"
same "wav vs flac (8 kHz)" "$(j "$T/a8.wav")" "$(j "$T/a8.flac")"
same "8 kHz flac via stdin" "$(j "$T/a8.flac")" "$(j - <"$T/a8.flac")"
out=$("$ASRD" --batch "${M[@]}" "$T/a.ogg" 2>"$T/err"); rc=$?
if [ $rc -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]; then ok; else bad "ogg runs and prints one line (rc=$rc)"; fi
# the model is random but must not be silent on everything, or the comparisons above prove little
some=$("$ASRD" --batch "${M[@]}" "$T/a.wav" "$T/b.wav" "$T/c.wav" "$T/sample.flac" 2>/dev/null | cut -f2 | tr -d '\n')
check "random model produces some text" [ -n "$some" ]
# text mode: one file -> the bare transcript; stderr stays empty (no progress bar off a terminal)
single=$("$ASRD" --batch "${M[@]}" "$T/a.wav" 2>"$T/err"); rc=$?
check "single file: exit 0" [ $rc -eq 0 ]
check "single file: no stderr" [ ! -s "$T/err" ]
same "single file: no path prefix" "$single" "$(printf '%s' "$single" | cut -f2-)"
same "single file: text matches json text" "$single" "$($PY -c 'import json,sys; print(json.loads(sys.stdin.read())["text"])' < <("$ASRD" --batch "${M[@]}" --format json "$T/a.wav"))"

# --- bad files ---
: >"$T/empty.wav"
head -c 2000 "$T/b.wav" >"$T/trunc.wav"
echo "this is not audio at all, just some text that happens to be in a file" >"$T/text.wav"
$PY - "$T" <<'EOF'
import struct, sys
d = sys.argv[1]
def wav(path, channels, rate, nframes=1600):
    data = b"\x00\x01" * nframes
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * max(channels, 1) * 2, max(channels, 1) * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    open(path, "wb").write(b"RIFF" + struct.pack("<I", len(body)) + body)
wav(d + "/zero_channels.wav", 0, 16000)
wav(d + "/rate1.wav", 1, 1)
EOF
badfiles=("$T/empty.wav" "$T/trunc.wav" "$T/text.wav" "$T/zero_channels.wav" "$T/rate1.wav" "$T/missing.wav")
"$ASRD" --batch "${M[@]}" "$T/a.wav" "${badfiles[@]:0:3}" "$T/b.wav" "${badfiles[@]:3}" "$T/c.wav" \
    >"$T/out" 2>"$T/err"
rc=$?
check "bad files: exit status 1 (got $rc)" [ $rc -eq 1 ]
check "bad files: 3 good lines in order" [ "$(cut -f1 "$T/out" | tr '\n' ' ')" = "$T/a.wav $T/b.wav $T/c.wav " ]
same "bad files: good transcripts unchanged" \
    "$(cut -f2- "$T/out")" "$("$ASRD" --batch "${M[@]}" "$T/a.wav" "$T/b.wav" "$T/c.wav" | cut -f2-)"
check "bad files: exactly ${#badfiles[@]} stderr lines" [ "$(wc -l <"$T/err")" -eq ${#badfiles[@]} ]
for f in "${badfiles[@]}"; do
    n=$(grep -c -F -- "asrd: error: $f:" "$T/err")
    check "one error line for $(basename "$f") (got $n)" [ "$n" -eq 1 ]
done
sed 's/^/    stderr: /' "$T/err"

# --- json ---
"$ASRD" --batch "${M[@]}" --format json "$T/a.wav" >"$T/one.json"
check "json (one file) parses with json.tool" $PY -m json.tool "$T/one.json" >/dev/null
"$ASRD" --batch "${M[@]}" --format json "$T/a.wav" "$T/b.wav" "$T/sample.flac" >"$T/many.json"
check "json lines parse with json.tool --json-lines" $PY -m json.tool --json-lines "$T/many.json" >/dev/null
check "json fields, times and text" $PY - "$T/many.json" <<'EOF'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 3, len(objs)
for o in objs:
    assert set(o) == {"file", "text", "result"}, o.keys()
    words = o["result"]
    assert o["text"] == " ".join(w["word"] for w in words), o
    last = 0.0
    for w in words:
        assert set(w) == {"word", "start", "end", "conf"}, w
        assert last <= w["start"] < w["end"], w
        assert 0.0 < w["conf"] <= 1.0, w
        last = w["end"]
EOF

# --- srt / vtt ---
"$ASRD" --batch "${M[@]}" --format srt "$T/sample.flac" >"$T/s.srt"
"$ASRD" --batch "${M[@]}" --format vtt "$T/sample.flac" >"$T/s.vtt"
"$ASRD" --batch "${M[@]}" --format json "$T/sample.flac" >"$T/s.json"
check "srt/vtt structure and cue limits" $PY - "$T/s.srt" "$T/s.vtt" "$T/s.json" <<'EOF'
import json, re, sys
srt, vtt = open(sys.argv[1]).read(), open(sys.argv[2]).read()
ref = json.loads(open(sys.argv[3]).read())
def ms(t):
    h, m, s, f = re.match(r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)$", t).groups()
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(f)
def cues(text, vtt):
    if vtt:
        assert text.startswith("WEBVTT\n\n"), text[:20]
        text = text[len("WEBVTT\n\n"):]
    blocks = [b for b in text.split("\n\n") if b]
    assert text == "" or text.endswith("\n\n")
    out = []
    for i, b in enumerate(blocks):
        lines = b.split("\n")
        if not vtt:
            assert lines[0] == str(i + 1), lines
            lines = lines[1:]
        sep = "." if vtt else ","
        m = re.match(r"(\d\d:\d\d:\d\d%s\d\d\d) --> (\d\d:\d\d:\d\d%s\d\d\d)$" % (re.escape(sep), re.escape(sep)), lines[0])
        assert m, lines[0]
        assert len(lines) == 2, lines
        out.append((ms(m.group(1)), ms(m.group(2)), lines[1]))
    return out
a, b = cues(srt, False), cues(vtt, True)
assert a == b, (a, b)
words = []
last = 0
for s, e, t in a:
    assert last <= s < e and e - s <= 7000 and 1 <= len(t.split()) <= 10, (s, e, t)
    last = e
    words += t.split()
assert words == [w["word"] for w in ref["result"]], (words, ref["text"])
if ref["result"]:
    assert a[0][0] == round(ref["result"][0]["start"] * 1000) and a[-1][1] == round(ref["result"][-1]["end"] * 1000)
EOF

# --- manifest: order, relative paths, scoring ---
mkdir -p "$T/set/sub"
cp "$T/a.wav" "$T/set/a.wav"; cp "$T/b.wav" "$T/set/sub/b.wav"; cp "$T/a8.flac" "$T/set/a8.flac"
printf 'sub/b.wav\tGregson shoved back his chair.\na8.flac\tThe quick brown fox.\n%s\tAbsolute path\na.wav\tThe quick brown fox jumps.\n' \
    "$T/c.wav" >"$T/set/list.tsv"
(cd / && "$ASRD" --batch "${M[@]}" --manifest "$T/set/list.tsv") >"$T/man.out" 2>"$T/err"
rc=$?
check "manifest: exit 0 (got $rc)" [ $rc -eq 0 ]
check "manifest: paths in manifest order" [ "$(cut -f1 "$T/man.out" | tr '\n' ' ')" = "sub/b.wav a8.flac $T/c.wav a.wav " ]
same "manifest: hypotheses equal per-file runs" \
    "$(cut -f2- "$T/man.out")" "$("$ASRD" --batch "${M[@]}" "$T/b.wav" "$T/a8.flac" "$T/c.wav" "$T/a.wav" | cut -f2-)"
same "manifest --threads 3 = --threads 1" \
    "$("$ASRD" --batch "${M[@]}" --threads 3 --manifest "$T/set/list.tsv" | cut -f2-)" "$(cut -f2- "$T/man.out")"
# references equal to the hypotheses (upper-cased, with punctuation: scoring normalises) -> 0 %
$PY - "$T/man.out" "$T/set/same.tsv" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    for p, h in rows:
        f.write("%s\t%s\n" % (p, (h.upper() + "!") if h else ""))
EOF
"$ASRD" --batch "${M[@]}" --manifest "$T/set/same.tsv" --score >"$T/score.out" 2>"$T/err"
# counts over normalised hypotheses: the alphabet is a-z, space and apostrophe, and normalisation
# keeps an apostrophe only between two letters (a random model emits plenty of stray ones)
read -r nw nc < <($PY - "$T/man.out" <<'EOF'
import re, sys
hyps = [" ".join(re.sub(r"(?<![a-z])'|'(?![a-z])", "", l.rstrip("\n").split("\t", 1)[1]).split())
        for l in open(sys.argv[1])]
print(sum(len(h.split()) for h in hyps), sum(len(h) for h in hyps))
EOF
)
check "score: refs = hyps -> WER 0.00% (0/$nw) CER 0.00% (0/$nc)" \
    [ "$(tail -1 "$T/score.out")" = "WER 0.00% (0/$nw) CER 0.00% (0/$nc)" ]
check "score: transcripts before the summary" [ "$(head -n -1 "$T/score.out")" = "$(cat "$T/man.out")" ]
# the real references plus a missing file: figures from an independent Levenshtein in Python
printf 'missing.wav\tNothing here at all\n' >>"$T/set/list.tsv"
"$ASRD" --batch "${M[@]}" --manifest "$T/set/list.tsv" --score >"$T/score2.out" 2>"$T/err"
rc=$?
check "score with a missing file: exit 1 (got $rc)" [ $rc -eq 1 ]
check "score with a missing file: one error line" [ "$(grep -c 'asrd: error: .*missing.wav' "$T/err")" -eq 1 ]
want=$($PY - "$T/set/list.tsv" "$T/score2.out" <<'EOF'
import re, sys
refs = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1])]
hyp = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2]) if "\t" in l)
def norm(s):  # enough for these texts: case, punctuation, apostrophes only between letters
    s = re.sub(r"[^a-z' ]", " ", s.lower())
    return " ".join(re.sub(r"(?<![a-z])'|'(?![a-z])", "", s).split())
def lev(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(b)]
we = wn = ce = cn = 0
for p, r in refs:
    r, h = norm(r), norm(hyp.get(p, ""))
    we += lev(r.split(), h.split()); wn += len(r.split())
    ce += lev(r, h); cn += len(r)
print("WER %.2f%% (%d/%d) CER %.2f%% (%d/%d)" % (100 * we / wn, we, wn, 100 * ce / cn, ce, cn))
EOF
)
check "score figures: got '$(tail -1 "$T/score2.out")' want '$want'" [ "$(tail -1 "$T/score2.out")" = "$want" ]

# --- help, version, usage errors, model errors ---
help=$("$ASRD" --help); rc=$?
check "--help exits 0" [ $rc -eq 0 ]
for flag in --batch --model --format --manifest --score --threads --no-progress --features --kaldi --help --version; do
    check "--help documents $flag" grep -q -- "$flag" <<<"$help"
done
check "--version" [ "$("$ASRD" --version)" = "asrd $(sed -n 's/^VERSION *:= *//p' Makefile)" ]
"$ASRD" "$T/a.wav" >/dev/null 2>"$T/err"; rc=$? # FILE without --batch: the daemon takes no files
if [ $rc -eq 2 ] && grep -q daemon "$T/err"; then ok; else bad "FILE without --batch: exit 2 with a message about the daemon"; fi
"$ASRD" --batch "${M[@]}" --format xml "$T/a.wav" >/dev/null 2>&1; rc=$?
check "bad --format: exit 2" [ $rc -eq 2 ]
"$ASRD" --batch "${M[@]}" >/dev/null 2>&1; rc=$?
check "no files: exit 2" [ $rc -eq 2 ]
"$ASRD" --batch "${M[@]}" --score "$T/a.wav" >/dev/null 2>&1; rc=$?
check "--score without --manifest: exit 2" [ $rc -eq 2 ]
"$ASRD" --batch --nonsense "$T/a.wav" >/dev/null 2>&1; rc=$?
check "unknown option: exit 2" [ $rc -eq 2 ]
"$ASRD" --batch --model "$T/nope.model" "$T/a.wav" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "nope.model" "$T/err"; then ok; else bad "missing --model: exit 1 naming it"; fi
ASRD_MODEL="$T/m.model" "$ASRD" --batch "$T/a.wav" >"$T/env.out" 2>/dev/null
same "ASRD_MODEL picks the model" "$(cat "$T/env.out")" "$single"
if [ ! -e model/asrd-en.model ] && [ ! -e /usr/local/share/asrd/asrd-en.model ]; then
    "$ASRD" --batch "$T/a.wav" >/dev/null 2>"$T/err"; rc=$?
    if [ $rc -eq 1 ] && grep -q "no model at .*make model.*--model" "$T/err"; then ok; else bad "no shipped model: exit 1, says how to get one"; fi
fi

# --- --features --kaldi is wired (values are checked against torchaudio elsewhere) ---
"$ASRD" --features --kaldi "$T/a.wav" >"$T/feats" 2>"$T/err"; rc=$?
ns=$(soxi -s "$T/a.wav")
check "--features --kaldi: exit 0" [ $rc -eq 0 ]
check "--features --kaldi: $(( (ns - 400) / 160 + 1 )) frames of 13" \
    [ "$(awk 'NF != 13 { bad = 1 } END { print NR, bad + 0 }' "$T/feats")" = "$(( (ns - 400) / 160 + 1 )) 0" ]

finish
