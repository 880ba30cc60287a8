#!/bin/bash
# seed.sh - (re)makes the generated part of the seed corpora under tests/fuzz/corpus/ from the
# tree's own tools: tiny models (tool_mkmodel), binary LMs (asrd --lm-convert of the ARPA seeds),
# short audio clips in every container libsndfile reads here (sox, sndfile-convert). The hand-written
# seeds (Vosk messages, configs, ARPA files) are kept as they are. Run after a file format changes
# (make all first); the outputs are committed. Usage: tests/fuzz/seed.sh
set -eu
cd "$(dirname "$0")/../.."
C=tests/fuzz/corpus
MK=build/tests/tool_mkmodel
ASRD=build/asrd
mkdir -p $C/vosk $C/config $C/model_file $C/arpa $C/lmbin $C/audio

# model_file: the smallest models of each layer type and version, and one with stacking.
$MK $C/model_file/gru-1x4.model --layers 1 --hidden 4 --ceps 4 --mels 8 --seed 1 >/dev/null
$MK $C/model_file/lstm-2x3.model --layers 2 --hidden 3 --type lstm --ceps 3 --mels 6 --seed 2 >/dev/null
$MK $C/model_file/gru-stack.model --layers 1 --hidden 2 --ceps 2 --mels 4 --stack 3 --stride 2 \
    --alphabet "ab" --rate 8000 --seed 3 >/dev/null

# lmbin: the ARPA seeds converted (asr_lm_open also reads ARPA: the ARPA seeds go along).
for a in $C/arpa/*.arpa; do
    n=$(basename "$a" .arpa)
    $ASRD --lm-convert "$a" "$C/lmbin/$n.lmbin" >/dev/null
done
cp $C/arpa/toy.arpa $C/lmbin/toy.arpa

# audio: 0.05-0.1 s clips, mono and stereo, several rates, encodings and containers.
A=$C/audio
sox -D -n -r 16000 -c 1 -b 16 $A/pcm16-16k.wav synth 0.1 sine 440
sox -D -n -r 8000 -c 2 -b 16 $A/pcm16-8k-stereo.wav synth 0.1 sine 300 sine 500
sox -D -n -r 44100 -c 1 -b 8 -e unsigned-integer $A/u8-44k.wav synth 0.05 sine 1000
sox -D -n -r 22050 -c 1 -e floating-point -b 32 $A/f32-22k.wav synth 0.05 sine 700
sox -D -n -r 8000 -c 1 -e u-law $A/ulaw-8k.wav synth 0.1 sine 600
sox -D -n -r 8000 -c 1 -e a-law $A/alaw-8k.wav synth 0.1 sine 600
sox -D -n -r 16000 -c 1 -e ima-adpcm $A/ima-16k.wav synth 0.1 sine 800
sox -D -n -r 16000 -c 1 -b 24 $A/pcm24-16k.flac synth 0.1 sine 440
sox -D -n -r 48000 -c 2 $A/vorbis-48k.ogg synth 0.1 sine 440 sine 880
sox -D -n -r 16000 -c 1 -b 16 $A/pcm16-16k.aiff synth 0.05 sine 440
sox -D -n -r 16000 -c 1 -b 16 $A/pcm16-16k.au synth 0.05 sine 440
sox -D -n -r 11025 -c 1 -b 16 $A/pcm16-11k.caf synth 0.05 sine 440
sndfile-convert -opus $A/pcm16-16k.wav $A/opus-16k.ogg
sox -D -n -r 16000 -c 1 -b 16 $A/pcm16-16k.w64 synth 0.05 sine 440
sox -D -n -r 8000 -c 1 -b 16 $A/pcm16-8k-mono.wav synth 0.1 sine 300
sndfile-convert -gsm610 $A/pcm16-8k-mono.wav $A/gsm-8k.wav
rm $A/pcm16-8k-mono.wav
ls -la $C/*/ | awk '{s += $5} END {print s " bytes of seeds"}'
