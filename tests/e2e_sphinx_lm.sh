#!/bin/bash
# e2e_sphinx_lm.sh - the word LMs `make lm` converts from sphinxbase's binary format score as
# libsphinxbase scores the originals (tests/sphinx_lm_ref.py: sampled and random trigrams within one
# logmath unit), for the shipped upstream CMU en-us LM (data/lm/cmu-en-us.lm.bin ->
# cmu-en-us.lmbin; with the four trigrams its file holds twice, which the converter resolves as
# sphinxbase's lookup does) and Debian's copy (en-us.lmbin). Each LM that is not built, or a
# missing libsphinxbase (Debian package libsphinxbase3, pulled in by pocketsphinx), is skipped with
# a message. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
TOOL=$PWD/build/tests/tool_lm_score
LM=${ASRD_DATA:-$PWD/data}/lm
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$TOOL"
if ! /usr/bin/python3 -c 'import ctypes; ctypes.CDLL("libsphinxbase.so.3")' 2>/dev/null; then
    skip "libsphinxbase.so.3 not installed (Debian libsphinxbase3): nothing checked"
    finish
fi
# compare NAME SPHINX_LM ASRD_BASENAME [extra trigrams...]
compare() {
    local name="$1" src="$2" base="$3"; shift 3
    if [ ! -s "$src" ] || [ ! -s "$LM/$base.lmbin" ] || [ ! -s "$LM/$base.arpa" ]; then
        skip "$name: $src or $LM/$base.{arpa,lmbin} missing (make lm)"
        return
    fi
    local out rc
    out=$(/usr/bin/python3 tests/sphinx_lm_ref.py "$src" "$LM/$base.lmbin" "$LM/$base.arpa" "$TOOL" "$@" 2>/dev/null)
    rc=$?
    echo "$name: $out"
    check "$name: asrd's LM scores as libsphinxbase" test $rc -eq 0
}
compare "upstream CMU en-us" "$LM/cmu-en-us.lm.bin" cmu-en-us --extra "demand the gentlewoman" \
    "prostatic specific antigen" "prince of belair" "hall of famer"
compare "Debian en-us" /usr/share/pocketsphinx/model/en-us/en-us.lm.bin en-us
finish
