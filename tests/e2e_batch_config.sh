#!/bin/bash
# e2e_batch_config.sh - `asrd --batch --config FILE` takes the model and decoder settings from the
# daemon's YAML file, flags override it, its daemon keys are ignored:
#  - with the shipped configs/asrd.yaml and model (when the default LM is built, else skipped with a
#    message): the same transcripts as `--batch --lm default` with the file's decoder.* values as
#    flags, different from greedy; --decoder greedy and --lm-weight/--word-bonus override the file;
#  - with a tiny random-weight model (tool_mkmodel) and a toy LM (no corpus or real LM needed): the
#    file's model: and decoder.* keys are used (== the same values as flags), --model and decoder
#    flags override them, --lm over `kind: greedy` selects beam (as in the daemon), daemon keys that
#    would stop the daemon (a listen address not on this host, a missing mic source, TLS files, a log
#    file in a missing directory) change nothing;
#  - an invalid file is still exit 2 with file:line:column; daemon flags are still refused.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=${MK_BIN:-$PWD/build/tests/tool_mkmodel}
SHARED=${ASRD_SHARED:-$PWD/../shared}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$ASRD" "$MK"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset ASRD_MODEL

# Files: the bundled sample, plus 4 cathy/dev recordings when the shared corpus is here.
printf '%s\t%s\n' "$PWD/tests/data/sample.flac" "$(cat tests/data/sample.txt)" > "$T/list.tsv"
if [ -s "$SHARED/corpus/cathy/dev.tsv" ]; then
    head -4 "$SHARED/corpus/cathy/dev.tsv" | sed "s|^|$SHARED/corpus/cathy/|" >> "$T/list.tsv"
fi
n=$(wc -l < "$T/list.tsv")
batch() { "$ASRD" --batch --no-progress --manifest "$T/list.tsv" "$@" 2>"$T/err"; }
same() { # same DESCRIPTION FILE_A FILE_B: identical and one line per file
    check "$1 ($(head -c 120 "$2" | tr '\n\t' '| '))" bash -c '[ "$(wc -l < "$1")" -eq "$3" ] && cmp -s "$1" "$2"' _ "$2" "$3" "$n"
}

# ===== 1. the shipped configuration and model =====
# decoder.KEY of configs/asrd.yaml (the two-space indented keys under "decoder:")
conf() { sed -n '/^decoder:/,/^[^ #]/p' configs/asrd.yaml | sed -nE "s/^  $1: *([^ #]+).*/\1/p"; }
kind=$(conf kind) lm=$(conf lm) beam=$(conf beam) w=$(conf lm_weight) b=$(conf word_bonus) u=$(conf unk_penalty)
check "configs/asrd.yaml: decoder.kind beam, lm default (got '$kind', '$lm')" [ "$kind" = beam ] && [ "$lm" = default ]
if [ ! -f model/asrd-en.model ]; then
    skip "no model/asrd-en.model: the shipped configuration is not checked (part 1)"
elif ! "$ASRD" --batch --lm default tests/data/sample.flac >/dev/null 2>"$T/lmerr"; then
    skip "the default LM is not built (make lm): the shipped configuration is not checked (part 1): $(head -1 "$T/lmerr")"
else
    flags=(--lm default --beam "$beam" --lm-weight "$w" --word-bonus "$b" --unk-penalty "$u")
    batch --config configs/asrd.yaml > "$T/conf.txt"
    check "shipped: --batch --config configs/asrd.yaml exit 0 ($(tail -1 "$T/err"))" test $? -eq 0
    batch "${flags[@]}" > "$T/flags.txt"
    same "shipped: --config configs/asrd.yaml == ${flags[*]}" "$T/conf.txt" "$T/flags.txt"
    batch > "$T/greedy.txt"
    check "shipped: the configuration's beam search differs from greedy" bash -c '! cmp -s "$1" "$2"' _ "$T/conf.txt" "$T/greedy.txt"
    batch --config configs/asrd.yaml --decoder greedy > "$T/conf-greedy.txt"
    same "shipped: --config configs/asrd.yaml --decoder greedy == greedy" "$T/conf-greedy.txt" "$T/greedy.txt"
    batch --config configs/asrd.yaml --lm-weight 3 --word-bonus -3 > "$T/conf-w.txt"
    batch --lm default --beam "$beam" --lm-weight 3 --word-bonus -3 --unk-penalty "$u" > "$T/flags-w.txt"
    same "shipped: --lm-weight 3 --word-bonus -3 override the file" "$T/conf-w.txt" "$T/flags-w.txt"
    check "shipped: ... and change the transcripts" bash -c '! cmp -s "$1" "$2"' _ "$T/conf-w.txt" "$T/conf.txt"
fi

# ===== 2. a tiny model and a toy LM named by the file =====
"$MK" "$T/m1.model" --layers 2 --hidden 48 --seed 11 >/dev/null &&
    "$MK" "$T/m2.model" --layers 2 --hidden 48 --seed 12 >/dev/null || { bad "tool_mkmodel failed"; finish; }
cp tests/data/toy.arpa "$T/toy.arpa" # a toy LM over short words: tests/data/README.md
"$ASRD" --lm-convert "$T/toy.arpa" "$T/toy.lmbin" || bad "--lm-convert of the toy LM"
# Every daemon section with values the daemon would refuse to start with (or act on): ignored.
cat > "$T/toy.yaml" <<EOF
listen: "192.0.2.1:9"
model: $T/m1.model
threads: 7
www: {root: $T/no-such-dir, mount: /x}
mic: {enabled: true, device: "no such device", source: $T/no-such.wav, grammar: [zebra]}
endpoint: {silence_ms: 10, max_utterance_ms: 100}
limits: {max_sessions: 1, max_audio_s: 0.1}
auth: {token: secret}
tls: {cert: $T/no-cert.pem, key: $T/no-key.pem}
log: {level: error, file: $T/no-such-dir/asrd.log, json: true}
decoder:
  kind: beam
  lm: $T/toy.lmbin
  beam: 8
  lm_weight: 1.5
  word_bonus: 2
  unk_penalty: -4
EOF
toyflags=(--lm "$T/toy.lmbin" --beam 8 --lm-weight 1.5 --word-bonus 2 --unk-penalty -4)
batch --config "$T/toy.yaml" > "$T/t-conf.txt"
check "toy: --config exit 0 with every daemon section set ($(tail -1 "$T/err"))" test $? -eq 0
check "toy: nothing on stderr ($(head -c 200 "$T/err"))" test ! -s "$T/err"
check "toy: no log file was created" test ! -e "$T/no-such-dir"
batch --model "$T/m1.model" "${toyflags[@]}" > "$T/t-flags.txt"
same "toy: the file's model and decoder == the same as flags" "$T/t-conf.txt" "$T/t-flags.txt"
batch --model "$T/m1.model" > "$T/t-greedy.txt"
check "toy: the file's beam search differs from greedy" bash -c '! cmp -s "$1" "$2"' _ "$T/t-conf.txt" "$T/t-greedy.txt"
batch --config "$T/toy.yaml" --model "$T/m2.model" > "$T/t-m2.txt"
batch --model "$T/m2.model" "${toyflags[@]}" > "$T/t-m2-flags.txt"
same "toy: --model overrides the file's model" "$T/t-m2.txt" "$T/t-m2-flags.txt"
check "toy: ... and that model transcribes otherwise" bash -c '! cmp -s "$1" "$2"' _ "$T/t-m2.txt" "$T/t-conf.txt"
batch --config "$T/toy.yaml" --beam 3 --lm-weight 0.5 --closed-vocab > "$T/t-over.txt"
batch --model "$T/m1.model" --lm "$T/toy.lmbin" --beam 3 --lm-weight 0.5 --word-bonus 2 --unk-penalty -4 \
    --closed-vocab > "$T/t-over-flags.txt"
same "toy: --beam --lm-weight --closed-vocab override the file" "$T/t-over.txt" "$T/t-over-flags.txt"
check "toy: closed vocabulary: only LM words" bash -c \
    '[ -z "$(cut -f2 "$1" | tr " " "\n" | grep -v "^$" | grep -vxE "a|i|the|to|it|at|tea")" ]' _ "$T/t-over.txt"
batch --config "$T/toy.yaml" --decoder greedy > "$T/t-dg.txt"
same "toy: --decoder greedy overrides kind: beam" "$T/t-dg.txt" "$T/t-greedy.txt"
# kind greedy in the file: its lm is not used; --lm selects beam unless --decoder is given (as for the daemon)
sed 's/^  kind: beam/  kind: greedy/' "$T/toy.yaml" > "$T/greedy.yaml"
batch --config "$T/greedy.yaml" > "$T/t-g.txt"
same "toy: kind: greedy in the file decodes greedily" "$T/t-g.txt" "$T/t-greedy.txt"
batch --config "$T/greedy.yaml" --lm "$T/toy.lmbin" > "$T/t-glm.txt"
same "toy: --lm over kind: greedy selects the beam search" "$T/t-glm.txt" "$T/t-flags.txt"
# model: "" in the file = the default model resolution (here: --model given instead)
printf 'model: ""\ndecoder: {kind: greedy}\n' > "$T/nomodel.yaml"
batch --config "$T/nomodel.yaml" --model "$T/m1.model" > "$T/t-nm.txt"
same "toy: model \"\" and --model" "$T/t-nm.txt" "$T/t-greedy.txt"

# ===== 3. errors =====
fails() { # fails DESCRIPTION EXIT PATTERN ARGS...
    local d="$1" want="$2" pat="$3"; shift 3
    "$ASRD" --batch tests/data/sample.flac "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    check "$d: exit $want (got $rc)" [ $rc -eq "$want" ]
    check "$d: '$pat' in: $(head -2 "$T/err" | tr '\n' ' ')" grep -q -- "$pat" "$T/err"
    check "$d: no transcript" test ! -s "$T/out"
}
printf 'model: %s\ndecoder:\n  kind: beam\n  beam: 0\n' "$T/m1.model" > "$T/range.yaml"
fails "decoder.beam: 0" 2 "range.yaml:4:9: decoder.beam" --config "$T/range.yaml"
printf 'model: %s\nlimits:\n  max_sesions: 3\n' "$T/m1.model" > "$T/key.yaml"
fails "a misspelt daemon key" 2 "key.yaml:3:3: unknown key 'limits.max_sesions'" --config "$T/key.yaml"
printf 'model: %s\nlisten: "127.0.0.1:99999"\n' "$T/m1.model" > "$T/listen.yaml"
fails "an invalid daemon value" 2 "listen.yaml:2:9: " --config "$T/listen.yaml"
printf 'decoder: [1, 2\n' > "$T/syntax.yaml"
fails "a YAML syntax error" 2 "syntax.yaml:" --config "$T/syntax.yaml"
fails "a missing file" 2 "$T/none.yaml" --config "$T/none.yaml"
fails "--beam x with --config" 2 "--beam must be a number" --config "$T/toy.yaml" --beam x
printf 'model: %s\ndecoder: {kind: beam, lm: %s}\n' "$T/m1.model" "$T/missing.lmbin" > "$T/nolm.yaml"
fails "the file's LM missing" 1 "missing.lmbin" --config "$T/nolm.yaml"
fails "--listen with --batch" 2 "cannot be combined with --batch" --config "$T/toy.yaml" --listen :2700
fails "--mic with --batch" 2 "cannot be combined with --batch" --mic
finish
