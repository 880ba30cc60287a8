#!/bin/bash
# e2e_train.sh - build/asr-train end to end on a handful of real utterances (seconds, CI-safe):
#  (a) a tiny GRU overfits 8 spoken digits (fsdd, or espeak-ng words if the corpus is absent) to
#      CER 0, checked on the trainer's dev hypotheses against the manifest's own references;
#  (b) build/asrd --batch with the exported model transcribes the files exactly as the trainer's
#      greedy evaluation did, and tnet_forward matches the runtime asr_stream frame by frame
#      (asr-train --check-model: max |log-prob diff| <= 1e-4);
#  (c) N updates in one run == N/2, stop, --resume, N/2 more (last.model byte for byte), with
#      several batches per epoch, SpecAugment and a fractional repeat so every random draw counts;
#  (d) SIGTERM mid-run saves a checkpoint and exits 0, and the checkpoint resumes;
#  (e) config errors are reported as file:line:column and exit 2;
#  (f) init_model (fine-tuning) starts from a model's weights and feature statistics: one update at
#      lr 0 writes that model back byte for byte and recognises what it recognised, where random
#      weights recognise nothing; a model of another shape is refused naming the file and layer;
#  (g) the speaker-robust recipe (online CMVN, 9-frame stacks, VTLP and speed perturbation drawn per
#      utterance and epoch): the model file is version 2 and says so, asrd --batch agrees with the
#      trainer's greedy eval and asr_stream with tnet_forward (so the trainer normalises exactly as
#      the runtime), the perturbation changes training (another model than without it), a resumed
#      run replays the same perturbations (byte for byte), and a fine-tuning run refuses a model
#      whose normalisation differs;
#  (h) the auxiliary phone CTC head (model.aux_phone): without it, (a) trains bit for bit as the trainer
#      did before the head existed (tests/data/train_tiny_golden.tsv, when the OpenBLAS kernels match);
#      with it, phone-target coverage is logged per manifest (an out-of-dictionary word drops an
#      utterance's phone loss), both losses fall, the exported model has the same size and asrd and
#      asr_stream agree with it, a resumed run is byte for byte an uninterrupted one (the checkpoint
#      carries the head), a warm start from a model without the head works, a missing dictionary is a
#      file:line:column error naming it;
#  (i) eval_lm: each evaluation also decodes the dev sets with asrd's default beam search and a word
#      LM, eval.tsv gets "+lm" rows, best_metric wer_lm picks best.model by them, and the hypotheses
#      equal asrd --batch --lm's on the exported model; wer_lm without eval_lm is a located error.
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

T=$(mktemp -d /tmp/e2e_train.XXXXXX)
trap 'rm -rf "$T"' EXIT
TRAIN=build/asr-train ASRD=build/asrd
[ -x $TRAIN ] && [ -x $ASRD ] || { echo "build/asr-train and build/asrd are needed"; echo "0 passed, 1 failed"; exit 1; }

# --- data: 8 utterances, distinct words ---
fsdd=${ASRD_SHARED:-/work/shared}/corpus/fsdd/train.tsv
m=$T/m.tsv
if [ -f "$fsdd" ]; then
    dir=$(cd "$(dirname "$fsdd")" && pwd)
    i=0
    for spk in jackson george nicolas yweweler jackson george nicolas yweweler; do
        grep -P "^train/${i}_${spk}_[0-9]+\.flac\t" "$fsdd" | sort | head -1 | sed "s#^#$dir/#" >> "$m"
        i=$((i + 1))
    done
else
    mkdir -p "$T/wav"
    for w in zero one two three four five six seven; do
        espeak-ng -w "$T/wav/$w.wav" "$w" && printf '%s\t%s\n' "$T/wav/$w.wav" "$w" >> "$m"
    done
fi
check "8 training utterances ($(wc -l < "$m"))" [ "$(wc -l < "$m")" = 8 ]

export TRAIN_TINY_MANIFEST=$m ASRD_TEST_OUT=$T/tiny
sed -e 's/max_utts: 6/max_utts: 8/' -e 's/size: 6/size: 8/' configs/train-tiny.yaml > "$T/tiny.yaml"

# --- (a) overfit ---
start=$SECONDS
$TRAIN --config "$T/tiny.yaml" --outdir "$T/a" > "$T/a.out" 2>&1
rc=$?
check "(a) training exits 0 (rc $rc, $((SECONDS - start)) s)" [ $rc = 0 ]
hyp=$T/a/dev-tt-m.hyp.tsv
[ -f "$hyp" ] || hyp=$(ls "$T"/a/dev-*.hyp.tsv 2>/dev/null | head -1)
check "(a) hypotheses written" [ -s "$hyp" ]
# independent check: hypotheses equal the manifest's texts (lowercase digit words need no normalising)
paste <(cut -f2 "$m") <(cut -f3 "$hyp") > "$T/refhyp"
check "(a) every utterance recognised exactly (CER 0)" awk -F'\t' '$1 != $2 { bad = 1 } END { exit bad }' "$T/refhyp"
check "(a) trainer's own eval reports CER 0" grep -qE $'mean\t[0-9.]+\t0\\.000$' "$T/a/eval.tsv"
check "(a) run folder holds config, logs and models" \
    test -s "$T/a/config.yaml" -a -s "$T/a/log.tsv" -a -s "$T/a/best.model" -a -s "$T/a/last.model" -a -s "$T/a/checkpoint.bin"

golden=tests/data/train_tiny_golden.tsv
core=$(sed -nE 's/^BLAS: OpenBLAS ([A-Za-z0-9]+) kernels.*/\1/p' "$T/a.out")
if [ -f "$fsdd" ] && [ "$core" = "$(sed -nE 's/^# OpenBLAS kernels: ([A-Za-z0-9]+);.*/\1/p' "$golden")" ]; then
    check "(h) without aux_phone, (a) trains bit for bit as before the phone head (log losses, last.model)" \
        bash -c "cmp -s <(grep -v '^#' '$golden' | grep -v '^last.model') <(cut -f1-6 '$T/a/log.tsv') && \
                 [ \"\$(sha256sum < '$T/a/last.model' | cut -d' ' -f1)\" = \"\$(sed -n 's/^last.model\t//p' '$golden')\" ]"
else
    echo "SKIP (h) golden comparison: needs the fsdd corpus and the golden's OpenBLAS kernels (here: ${core:-?})"
fi

# --- (b) the daemon agrees with the trainer ---
# The trainer evaluates in float32, asrd's default precision is int8: compare float32 with float32.
$ASRD --batch --precision float32 --model "$T/a/last.model" --manifest "$m" > "$T/asrd.out" 2> "$T/asrd.err"
check "(b) asrd --batch runs on the exported model" [ $? = 0 ]
check "(b) asrd transcripts == trainer's greedy eval" cmp -s <(cut -f2 "$T/asrd.out") <(cut -f3 "$hyp")
$TRAIN --config "$T/tiny.yaml" --check-model "$T/a/last.model" > "$T/check.out" 2>&1
rc=$?
grep check-model "$T/check.out"
check "(b) tnet_forward == asr_stream log-probs within 1e-4" [ $rc = 0 ]

# --- (c) resume bit for bit ---
sed -e 's/size: 8/size: 3/' -e 's/repeat: 1$/repeat: 1.5/' -e 's/time_masks: 0/time_masks: 2\n  time_mask_width: 3/' \
    -e 's/freq_masks: 0/freq_masks: 2\n  freq_mask_width: 4/' -e 's/max_updates: 120/max_updates: 40/' \
    -e 's/eval_every: 40/eval_every: 15/' -e 's/hidden: 96/hidden: 96\n  dropout: 0.2/' "$T/tiny.yaml" > "$T/aug.yaml"
$TRAIN --config "$T/aug.yaml" --outdir "$T/c1" > "$T/c1.out" 2>&1
r1=$?
$TRAIN --config "$T/aug.yaml" --outdir "$T/c2" --max-updates 19 > "$T/c2.out" 2>&1
r2=$?
$TRAIN --config "$T/aug.yaml" --resume "$T/c2" > "$T/c3.out" 2>&1
r3=$?
check "(c) three runs exit 0 ($r1 $r2 $r3)" [ "$r1$r2$r3" = 000 ]
check "(c) resumed mid-epoch" grep -qE 'resumed at update 19 \(epoch [0-9]+, batch [1-9]' "$T/c3.out"
check "(c) 40 updates == 19 + resume + 21 (last.model byte for byte)" cmp "$T/c1/last.model" "$T/c2/last.model"
check "(c) a different seed gives a different model" bash -c \
    "sed 's/^seed: 7/seed: 8/' '$T/aug.yaml' > '$T/aug8.yaml' && $TRAIN --config '$T/aug8.yaml' --outdir '$T/c4' >/dev/null 2>&1 && ! cmp -s '$T/c1/last.model' '$T/c4/last.model'"
check "(c) dropout 0.2 in use" grep -q 'dropout 0.2;' "$T/c1.out"
check "(c) dropout 0 gives a different model" bash -c \
    "sed 's/dropout: 0.2/dropout: 0/' '$T/aug.yaml' > '$T/aug0.yaml' && $TRAIN --config '$T/aug0.yaml' --outdir '$T/c5' >/dev/null 2>&1 && ! cmp -s '$T/c1/last.model' '$T/c5/last.model'"

# --- (d) SIGTERM ---
sed -e 's/max_updates: 120/max_updates: 0/' -e 's/epochs: 400/epochs: 1000000/' "$T/tiny.yaml" > "$T/long.yaml"
$TRAIN --config "$T/long.yaml" --outdir "$T/d" > "$T/d.out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    [ -f "$T/d/log.tsv" ] && [ "$(wc -l < "$T/d/log.tsv")" -ge 3 ] && break
    sleep 0.05
done
kill -TERM $pid
wait $pid
rc=$?
check "(d) SIGTERM: exit 0 (rc $rc)" [ $rc = 0 ]
check "(d) SIGTERM: reported and checkpoint saved" bash -c "grep -q interrupted '$T/d.out' && test -s '$T/d/checkpoint.bin' && test -s '$T/d/last.model'"
n=$(sed -nE 's/^interrupted at update ([0-9]+).*/\1/p' "$T/d.out")
$TRAIN --config "$T/long.yaml" --resume "$T/d" --max-updates $((${n:-0} + 5)) > "$T/d2.out" 2>&1
check "(d) the checkpoint resumes (update ${n:-?} + 5)" grep -q "finished at update $((${n:-0} + 5)) " "$T/d2.out"

# --- (e) config errors ---
printf 'data:\n  train: [%s]\nmodel:\n  type: gru\n  hidden: lots\n' "$m" > "$T/bad1.yaml"
$TRAIN --config "$T/bad1.yaml" > "$T/e1.out" 2>&1
rc=$?
check "(e) bad value: exit 2 at $T/bad1.yaml:5:11" bash -c "[ $rc = 2 ] && grep -q '$T/bad1.yaml:5:11: model.hidden' '$T/e1.out'"
printf 'data:\n  train: [%s]\noptim:\n  lr: 0.001\n  momentum: 0.9\n' "$m" > "$T/bad2.yaml"
$TRAIN --config "$T/bad2.yaml" > "$T/e2.out" 2>&1
rc=$?
check "(e) unknown key: exit 2 at $T/bad2.yaml:5:3" bash -c "[ $rc = 2 ] && grep -q \"$T/bad2.yaml:5:3: optim: unknown key 'momentum'\" '$T/e2.out'"
$TRAIN --config "$T/missing.yaml" > /dev/null 2>&1
check "(e) missing config: exit 2" [ $? = 2 ]

# --- (f) init_model ---
sed -e 's/lr: 0.01/lr: 0/' -e 's/max_updates: 120/max_updates: 1/' -e 's/eval_every: 40/eval_every: 1/' "$T/tiny.yaml" > "$T/lr0.yaml"
{ cat "$T/lr0.yaml"; echo "init_model: $T/a/last.model"; } > "$T/init.yaml"
$TRAIN --config "$T/init.yaml" --outdir "$T/f" > "$T/f.out" 2>&1
rc=$?
check "(f) fine-tuning run exits 0 (rc $rc)" [ $rc = 0 ]
check "(f) the log names the initial weights" grep -q "initial weights: $T/a/last.model" "$T/f.out"
check "(f) one update at lr 0 == the init model (byte for byte: weights and feature statistics)" \
    cmp "$T/a/last.model" "$T/f/last.model"
check "(f) its dev eval recognises every utterance (CER 0)" grep -qE $'^1\t[0-9]+\tmean\t[0-9.]+\t0\.000$' "$T/f/eval.tsv"
$TRAIN --config "$T/lr0.yaml" --outdir "$T/f0" > "$T/f0.out" 2>&1
check "(f) without init_model the same run recognises nothing right (mean CER > 50%)" \
    awk -F'\t' '$3 == "mean" { c = $5 } END { exit !(c > 50) }' "$T/f0/eval.tsv"
sed -e 's/hidden: 96/hidden: 64/' "$T/init.yaml" > "$T/init64.yaml"
$TRAIN --config "$T/init64.yaml" --outdir "$T/f2" > "$T/f2.out" 2>&1
rc=$?
check "(f) a model of another shape: exit 2 naming the file and layer (rc $rc)" bash -c \
    "[ $rc = 2 ] && grep -q 'init_model $T/a/last.model: its layer 1 is 96 x GRU, the config.s 64 x GRU' '$T/f2.out'"
printf 'init_model: %s/none.model\n' "$T" >> "$T/lr0.yaml"
$TRAIN --config "$T/lr0.yaml" --outdir "$T/f3" > "$T/f3.out" 2>&1
rc=$?
check "(f) a missing init model: exit 1 naming it (rc $rc)" bash -c "[ $rc = 1 ] && grep -q '$T/none.model' '$T/f3.out'"

# --- (g) online CMVN, lookahead stacking, VTLP and speed perturbation ---
sed -e 's/stack: 3/stack: 9\n  cmvn: {mode: online, prior_frames: 100, window: 300, norm_vars: true}/' "$T/tiny.yaml" > "$T/g.yaml"
sed -e 's/freq_masks: 0/freq_masks: 0\n  vtlp: 0.1\n  speed: 0.1/' "$T/g.yaml" > "$T/gv.yaml"
$TRAIN --config "$T/gv.yaml" --outdir "$T/g" > "$T/g.out" 2>&1
rc=$?
check "(g) training with online CMVN, stack 9, vtlp and speed exits 0 (rc $rc)" [ $rc = 0 ]
check "(g) the model file is version 2 with cmvn online" bash -c \
    "[ \"\$(od -An -tu4 -j8 -N4 '$T/g/last.model' | tr -d ' ')\" = 2 ] && grep -aq 'cmvn online' '$T/g/last.model'"
ghyp=$(ls "$T"/g/dev-*.hyp.tsv 2>/dev/null | head -1)
$ASRD --batch --precision float32 --model "$T/g/last.model" --manifest "$m" > "$T/g.asrd" 2> "$T/g.asrd.err"
check "(g) asrd --batch transcripts == trainer's greedy eval" cmp -s <(cut -f2 "$T/g.asrd") <(cut -f3 "$ghyp")
check "(g) the model recognises most of what it was trained on (mean CER < 30%)" \
    awk -F'\t' '$3 == "mean" { c = $5 } END { exit !(c < 30) }' "$T/g/eval.tsv"
$TRAIN --config "$T/gv.yaml" --check-model "$T/g/last.model" > "$T/gcheck.out" 2>&1
rc=$?
grep check-model "$T/gcheck.out"
check "(g) tnet_forward == asr_stream with online CMVN within 1e-4" [ $rc = 0 ]
$TRAIN --config "$T/g.yaml" --outdir "$T/g0" > "$T/g0.out" 2>&1
check "(g) vtlp/speed change training (a different model than without them)" bash -c "! cmp -s '$T/g/last.model' '$T/g0/last.model'"
sed -e 's/max_updates: 120/max_updates: 30/' "$T/gv.yaml" > "$T/gv30.yaml"
$TRAIN --config "$T/gv30.yaml" --outdir "$T/g1" > /dev/null 2>&1
$TRAIN --config "$T/gv30.yaml" --outdir "$T/g2" --max-updates 13 > /dev/null 2>&1
$TRAIN --config "$T/gv30.yaml" --resume "$T/g2" > /dev/null 2>&1
check "(g) 30 updates == 13, stop, resume 17 (byte for byte, perturbations replayed)" cmp "$T/g1/last.model" "$T/g2/last.model"
printf 'init_model: %s/a/last.model\n' "$T" >> "$T/g.yaml"
$TRAIN --config "$T/g.yaml" --outdir "$T/g3" > "$T/g3.out" 2>&1
rc=$?
check "(g) init_model with another normalisation or stacking is refused (rc $rc)" bash -c "[ $rc = 2 ] && grep -q 'init_model' '$T/g3.out'"

# --- (h) the auxiliary phone CTC head ---
dict=/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict
if [ -r "$dict" ]; then
    # the first utterance gets an out-of-dictionary word: no phone loss for it
    awk -F'\t' 'NR == 1 { $2 = $2 " qwzxvj" } { print $1 "\t" $2 }' "$m" > "$T/m_oov.tsv"
    sed -e "s#^  hidden: 96#  hidden: 96\n  aux_phone: {weight: 0.3, dict: $dict}#" -e 's/max_updates: 120/max_updates: 40/' \
        "$T/tiny.yaml" > "$T/h.yaml"
    TRAIN_TINY_MANIFEST=$T/m_oov.tsv $TRAIN --config "$T/h.yaml" --outdir "$T/h1" > "$T/h1.out" 2>&1
    rc=$?
    check "(h) training with aux_phone exits 0 (rc $rc)" [ $rc = 0 ]
    check "(h) phone-target coverage logged: 7 of 8 utterances (one OOV word)" \
        grep -qE '^phones .* 7 of +8 usable utts' "$T/h1.out"
    check "(h) log.tsv has phone loss columns" bash -c "head -1 '$T/h1/log.tsv' | grep -qP '\\tphone_loss\\tphone_loss_per_frame\$'"
    check "(h) both losses fall (update 10 -> 40)" awk -F'\t' 'NR == 2 { l = $3; p = $9 } END { exit !($3 < l / 10 && $9 < p / 10) }' "$T/h1/log.tsv"
    check "(h) the exported model has the size of one without the head" \
        [ "$(stat -c %s "$T/h1/last.model")" = "$(stat -c %s "$T/a/last.model")" ]
    hhyp=$(ls "$T"/h1/dev-*.hyp.tsv 2>/dev/null | head -1)
    $ASRD --batch --precision float32 --model "$T/h1/last.model" --manifest "$T/m_oov.tsv" > "$T/h.asrd" 2> "$T/h.asrd.err"
    check "(h) asrd --batch loads it and agrees with the trainer's greedy eval" cmp -s <(cut -f2 "$T/h.asrd") <(cut -f3 "$hhyp")
    TRAIN_TINY_MANIFEST=$T/m_oov.tsv $TRAIN --config "$T/h.yaml" --check-model "$T/h1/last.model" > "$T/hcheck.out" 2>&1
    check "(h) tnet_forward == asr_stream on it within 1e-4" [ $? = 0 ]
    TRAIN_TINY_MANIFEST=$T/m_oov.tsv $TRAIN --config "$T/h.yaml" --outdir "$T/h2" --max-updates 17 > /dev/null 2>&1
    TRAIN_TINY_MANIFEST=$T/m_oov.tsv $TRAIN --config "$T/h.yaml" --resume "$T/h2" > /dev/null 2>&1
    check "(h) 40 updates == 17, stop, resume 23 (last.model byte for byte, same losses at update 40: the checkpoint carries the head)" \
        bash -c "cmp '$T/h1/last.model' '$T/h2/last.model' && cmp <(tail -1 '$T/h1/log.tsv' | cut -f1-6,9,10) <(tail -1 '$T/h2/log.tsv' | cut -f1-6,9,10)"
    sed -e "s#^  hidden: 96#  hidden: 96\n  aux_phone: {weight: 0.3, dict: $dict}#" "$T/lr0.yaml" | grep -v '^init_model' > "$T/hinit.yaml"
    echo "init_model: $T/a/last.model" >> "$T/hinit.yaml"
    TRAIN_TINY_MANIFEST=$T/m_oov.tsv $TRAIN --config "$T/hinit.yaml" --outdir "$T/h3" > "$T/h3.out" 2>&1
    rc=$?
    check "(h) warm start from a model without the head (rc $rc): one update at lr 0 gives that model back" \
        bash -c "[ $rc = 0 ] && grep -q 'initial weights: $T/a/last.model' '$T/h3.out' && cmp '$T/a/last.model' '$T/h3/last.model'"
    sed -e "s#^  hidden: 96#  hidden: 96\n  aux_phone: {weight: 0.3, dict: $T/none.dict}#" "$T/tiny.yaml" > "$T/hbad.yaml"
    line=$(grep -n 'none.dict' "$T/hbad.yaml" | cut -d: -f1)
    $TRAIN --config "$T/hbad.yaml" --outdir "$T/h4" > "$T/h4.out" 2>&1
    rc=$?
    check "(h) a missing dictionary: exit 2, $T/hbad.yaml:$line:..., naming the file (rc $rc)" bash -c \
        "[ $rc = 2 ] && grep -qE '$T/hbad.yaml:$line:[0-9]+: model.aux_phone.dict: pronouncing dictionary $T/none.dict: No such file' '$T/h4.out'"
else
    echo "SKIP (h) aux_phone: $dict not installed (package pocketsphinx-en-us)"
fi

# --- (i) dev evaluation with the beam search and a word LM (eval_lm, best_metric wer_lm) ---
{
    words=$(cut -f2 "$m" | tr ' ' '\n' | sort -u)
    printf '\\data\\\nngram 1=%d\n\n\\1-grams:\n-99 <s>\n-1 </s>\n' $(($(wc -w <<<"$words") + 2))
    for w in $words; do printf -- '-1 %s\n' "$w"; done
    printf '\n\\end\\\n'
} > "$T/digits.arpa"
sed -e 's/^best_metric: cer/best_metric: wer_lm/' "$T/tiny.yaml" > "$T/lm.yaml"
echo "eval_lm: $T/digits.arpa" >> "$T/lm.yaml"
$TRAIN --config "$T/lm.yaml" --outdir "$T/i" > "$T/i.out" 2>&1
rc=$?
check "(i) training with eval_lm exits 0 (rc $rc)" [ $rc = 0 ]
check "(i) eval.tsv has beam + LM rows per set and their mean" \
    bash -c "grep -qP '^120\t[0-9]+\t[^\t]+\+lm\t' '$T/i/eval.tsv' && grep -qP '^120\t[0-9]+\tmean\+lm\t' '$T/i/eval.tsv'"
check "(i) best.model chosen by the beam + LM WER" grep -q 'best dev WER (beam + LM)' "$T/i.out"
hyp_lm=$(ls "$T"/i/dev-*+lm.hyp.tsv 2>/dev/null | head -1)
check "(i) beam + LM hypotheses written" [ -s "$hyp_lm" ]
$ASRD --batch --precision float32 --model "$T/i/last.model" --lm "$T/digits.arpa" --manifest "$m" > "$T/asrd-lm.out" 2> "$T/asrd-lm.err"
check "(i) asrd --batch --lm (its default beam search) == the trainer's beam + LM eval" \
    cmp -s <(cut -f2 "$T/asrd-lm.out") <(cut -f3 "$hyp_lm")
check "(i) and it recognises every utterance" cmp -s <(cut -f2 "$m") <(cut -f3 "$hyp_lm")
sed -e 's/^best_metric: cer/best_metric: wer_lm/' "$T/tiny.yaml" > "$T/nolm.yaml"
$TRAIN --config "$T/nolm.yaml" --outdir "$T/i2" > "$T/i2.out" 2>&1
rc=$?
check "(i) best_metric wer_lm without eval_lm: exit 2, file:line:column" \
    bash -c "[ $rc = 2 ] && grep -qE 'nolm.yaml:[0-9]+:[0-9]+: best_metric: wer_lm needs eval_lm' '$T/i2.out'"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
