#!/bin/bash
# corpus.sh - build the training corpus of asrd outside git (`make corpus`).
#
# Outputs under OUT (default ${ASRD_DATA:-data}/corpus, relative to the repository root):
#   synth.tsv     synthetic speech (RHVoice bdl/clb, Pico en-US/en-GB, flite, festival, espeak-ng;
#                 slt never), path<TAB>text
#   real-aug.tsv  augmented copies of ../shared/corpus/*/train.tsv (the originals are not copied;
#                 Ogg/Opus sources are decoded with libsndfile's sndfile-convert)
#   synth/, real-aug/  16 kHz mono FLAC (telephone-band copies 8 kHz)
#   text/train.tsv, text/heldout.tsv  the sentence pool and the sentences held out for eval-synth
#   plan/         the job list (plan.py), done.log (path, seconds), failed.log, stats.md (hours
#                 per voice, text source and augmentation: stats.py)
# RHVoice and Pico are fetched and unpacked by voices.sh into ${ASRD_DATA:-data}/tts (ASRD_TTS).
# Manifest paths are relative to the manifest. A manifest only lists complete files; the run is
# resumable (existing files are skipped), parallel (-j) and deterministic given --seed.
#
# Defaults: a plan of --hours 12 of synthetic speech and --real-copies 1 (the trainer reads the real
# originals from ../shared itself), cut to its first --max-jobs 2554 jobs. The whole plan was sized
# for about 20-25 minutes with -j 2 on an idle machine (not measured); with training and tests
# sharing the 2 cores it made ~3-4 files a second.
# Usage: corpus.sh [--hours H] [--seed N] [-j N] [--out DIR] [--real-copies N]
#                  [--max-real N] [--max-synth N]   (the last two: small runs for tests)
#                  [--link-from DIR]  hard-link files DIR already has (a corpus of the same --seed:
#                  the same job makes the same file) instead of making them again
#                  [--max-jobs N]  only the first N jobs of the interleaved plan (0: all). The
#                  default, 2554, is the corpus of the current training run: the slice that 2 shared
#                  cores made in ~13 minutes before it had to start (2.26 h: 1.16 h synthetic, every
#                  voice; 1.10 h augmented real speech, all of it cathy's, since the plan lists real
#                  copies corpus by corpus: the other real sets are trained on as originals only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
hours=12 seed=1 jobs=2 copies=1 max_real=0 max_synth=0 max_jobs=2554 heldout=300
out= link_from=
while [ $# -gt 0 ]; do
    case $1 in
    --hours) hours=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    --out) out=$2; shift 2 ;;
    --real-copies) copies=$2; shift 2 ;;
    --max-real) max_real=$2; shift 2 ;;
    --max-synth) max_synth=$2; shift 2 ;;
    --max-jobs) max_jobs=$2; shift 2 ;;
    --shared) shared=$2; shift 2 ;;
    --link-from) link_from=$2; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "corpus.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
cd "$root"
data=${ASRD_DATA:-data}
out=${out:-$data/corpus}
shared=${shared:-${ASRD_SHARED:-$root/../shared}}
for tool in sox flite espeak-ng festival sndfile-convert apt-get dpkg; do
    command -v $tool >/dev/null || { echo "corpus.sh: $tool is missing (make deps)" >&2; exit 1; }
done
[ -d "$shared/corpus" ] || { echo "corpus.sh: no $shared/corpus" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
ASRD_TTS=${ASRD_TTS:-$data/tts}
"$here/voices.sh" "$ASRD_TTS"
export ASRD_TTS=$(cd "$ASRD_TTS" && pwd)

# A corpus directory belongs to one seed: files of another seed would mix two plans.
stamp="$out/plan/seed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$seed" ]; then
    echo "corpus.sh: $out was made with --seed $(cat "$stamp"); use another --out" >&2
    exit 1
fi

t0=$(date +%s)
$PY "$here/textpool.py" --out "$out/text" --seed "$seed" --heldout "$heldout" \
    --cathy "$shared/corpus/cathy/*.tsv"
$PY "$here/plan.py" --out "$out" --hours "$hours" --seed "$seed" --real-copies "$copies" \
    --max-real "$max_real" --max-synth "$max_synth" --max-jobs "$max_jobs" --shared "$shared"
echo "$seed" > "$stamp"

# Files another corpus of the same seed already made (same job, same file): hard links.
if [ -n "$link_from" ]; then
    [ "$(cat "$link_from/plan/seed" 2>/dev/null)" = "$seed" ] ||
        { echo "corpus.sh: --link-from $link_from is not a corpus of --seed $seed" >&2; exit 1; }
    cut -f3 "$out/plan/jobs.tsv" | while read -r rel; do
        if [ ! -e "$out/$rel" ] && [ -e "$link_from/$rel" ]; then
            mkdir -p "$(dirname "$out/$rel")" && ln "$link_from/$rel" "$out/$rel"
        fi
    done
    grep -F -f <(cut -f3 "$out/plan/jobs.tsv") "$link_from/done.log" >> "$out/done.log" 2>/dev/null || true
fi

# Rebuild the manifests from the files present (a killed run may have renamed a file and died
# before appending its line), then let the workers append.
$PY "$here/manifest.py" --out "$out"
: > "$out/failed.log"
total=$(wc -l < "$out/plan/jobs.tsv")

progress() {
    awk -F'\t' -v total="$total" -v t0="$t0" -v now="$(date +%s)" '
        { n++; h += $2 / 3600; if ($1 ~ /^synth\//) s += $2 / 3600 }
        END { printf "corpus: %d/%d files, %.2f h (synth %.2f h, real-aug %.2f h), %d s elapsed\n",
              n, total, h, s, h - s, now - t0 }' "$out/done.log" >&2
}
touch "$out/done.log"
( while sleep 30; do progress; done ) &
monitor=$!
trap 'kill $monitor 2>/dev/null || true' EXIT

ls "$out"/plan/chunk-*.tsv | xargs -P "$jobs" -n 1 $PY "$here/worker.py" --out "$out" || true

kill $monitor 2>/dev/null || true
$PY "$here/manifest.py" --out "$out"
progress
$PY "$here/stats.py" --out "$out" > "$out/stats.md"
nfail=$(wc -l < "$out/failed.log")
if [ "$nfail" -gt 0 ]; then
    echo "corpus: $nfail jobs failed (see $out/failed.log); rerun to retry them" >&2
fi
echo "corpus: done: $out/synth.tsv $out/real-aug.tsv" >&2
exit 0
