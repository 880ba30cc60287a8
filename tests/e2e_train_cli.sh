#!/bin/bash
# e2e_train_cli.sh - asr-train's command line (getopt_long): every number is checked (a bad or
# out-of-range value, e.g. "--max-updates x", is a usage error with exit 2 naming the option, where
# it used to become 0), unknown options, missing values, stray arguments and conflicting modes
# exit 2 with the usage, and valid options, in either "--opt V" or "--opt=V" form, get through to
# the configuration (which here names a manifest that does not exist, so nothing is trained); a key
# given twice in the configuration is an error at file:line:column.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
TRAIN=${ASR_TRAIN_BIN:-build/asr-train}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -x "$TRAIN" ] || { bad "missing $TRAIN (run make)"; finish; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# A valid configuration whose data is missing: a run that gets past the command line stops there.
sed "s#\${TRAIN_TINY_MANIFEST:-[^}]*}#$T/no-such-manifest.tsv#; s#\${ASRD_TEST_OUT:-[^}]*}#$T/out#" \
    configs/train-tiny.yaml >"$T/c.yaml"
C=(--config "$T/c.yaml")

# usage_error WHAT WANT ARGS...: exit 2, WANT in the message, the usage printed, nothing started
usage_error() {
    local what=$1 want=$2; shift 2
    "$TRAIN" "$@" >"$T/out.txt" 2>"$T/err.txt"; local rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$want" "$T/err.txt" && grep -q '^usage: asr-train' "$T/err.txt" &&
        ! grep -q 'no-such-manifest' "$T/err.txt"; then
        ok "$what"
    else
        bad "$what: want exit 2 and '$want' with the usage, got exit $rc: $(head -2 "$T/err.txt" | tr '\n' ' ')"
    fi
}
usage_error "--max-updates x" "--max-updates: expected a whole number, got 'x'" "${C[@]}" --max-updates x
usage_error "--max-updates 12abc" "--max-updates: expected a whole number, got '12abc'" "${C[@]}" --max-updates 12abc
usage_error "--max-updates ''" "--max-updates: expected a whole number" "${C[@]}" --max-updates ''
usage_error "--max-updates 0" "--max-updates: 0 is out of range" "${C[@]}" --max-updates 0
usage_error "--max-updates -5" "--max-updates: -5 is out of range" "${C[@]}" --max-updates -5
usage_error "--max-updates 2^70" "--max-updates: 1180591620717411303424 is out of range" "${C[@]}" \
    --max-updates 1180591620717411303424
usage_error "--threads 0" "--threads: 0 is out of range [1, 256]" "${C[@]}" --threads 0
usage_error "--threads two" "--threads: expected a whole number, got 'two'" "${C[@]}" --threads two
usage_error "--threads=1.5" "--threads: expected a whole number, got '1.5'" "${C[@]}" --threads=1.5
usage_error "--dump-count -1" "--dump-count: -1 is out of range" "${C[@]}" --dump-batches "$T/b" --dump-count -1
usage_error "--check-count x" "--check-count: expected a whole number" "${C[@]}" --check-model "$T/m" --check-count x
usage_error "unknown option" "unknown or ambiguous option --bogus" "${C[@]}" --bogus
usage_error "unknown short option" "unknown option -x" "${C[@]}" -x
usage_error "option without its value" "--max-updates needs a value" "${C[@]}" --max-updates
usage_error "stray argument" "unexpected argument 'extra'" "${C[@]}" extra
usage_error "two modes" "exclude each other" "${C[@]}" --dump-batches "$T/b" --check-model "$T/m"
usage_error "--resume with --outdir" "--outdir cannot be given with it" "${C[@]}" --resume "$T/r" --outdir "$T/o"
usage_error "no --config" "--config FILE is required" --max-updates 5

# valid options reach the configuration: the error is the missing manifest, not the command line
for form in "--max-updates 5 --threads 2" "--max-updates=5 --threads=2"; do
    # shellcheck disable=SC2086
    "$TRAIN" "${C[@]}" $form >"$T/out.txt" 2>"$T/err.txt"; rc=$?
    if [ $rc -ne 0 ] && grep -q 'no-such-manifest' "$T/err.txt" && ! grep -q '^usage:' "$T/err.txt"; then
        ok "valid '$form' accepted"
    else
        bad "valid '$form': exit $rc, $(head -2 "$T/err.txt" | tr '\n' ' ')"
    fi
done
# a key given twice in the configuration (the shared YAML reader): file:line:column, exit 2
first=$(grep -n '^seed:' "$T/c.yaml" | cut -d: -f1)
line=$((first + 1))
sed "${first}a seed: 8" "$T/c.yaml" >"$T/dup.yaml"
"$TRAIN" --config "$T/dup.yaml" >"$T/out.txt" 2>"$T/err.txt"; rc=$?
if [ $rc -eq 2 ] && grep -q "dup.yaml:$line:1: duplicate key '.*seed' (first at line $first, column 1)" "$T/err.txt"; then
    ok "duplicate key in the configuration: file:line:column, exit 2"
else
    bad "duplicate key: exit $rc, $(head -2 "$T/err.txt" | tr '\n' ' ')"
fi
"$TRAIN" --help >"$T/help.txt" 2>&1; rc=$?
check "--help: exit 0" [ $rc -eq 0 ]
for o in --config --resume --outdir --max-updates --threads --dump-batches --dump-count --train-dump --check-model \
    --check-count; do
    check "--help documents $o" grep -q -- "$o" "$T/help.txt"
done
finish
