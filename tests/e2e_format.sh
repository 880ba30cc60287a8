#!/bin/bash
# e2e_format.sh - every C source and header in git is formatted as .clang-format says (`make format`
# fixes them): one check per file, failing with the first lines of clang-format's diff, so a
# change that deviates fails `make test`. A mutation check first: a file whose indentation was
# broken on purpose must be reported, so that this test cannot pass by checking nothing.
# Ends with "N passed, N failed".
# test-timeout: 300
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
CF=${CLANG_FORMAT:-clang-format}
command -v "$CF" >/dev/null || { bad "$CF missing (Debian package clang-format: make deps-test)"; finish; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
# the checker itself: a formatted file passes, the same file with one line mis-indented fails
cp frontend/asr_util.c "$T/x.c"; cp .clang-format "$T/"
"$CF" -i "$T/x.c"
check "a formatted file passes" "$CF" --dry-run -Werror "$T/x.c"
awk '/^    [a-z]/ && !done { sub(/^    /, "  "); done = 1 } { print }' "$T/x.c" >"$T/y.c"
mv "$T/y.c" "$T/x.c"
check "a mis-indented file is reported" bash -c "! '$CF' --dry-run -Werror '$T/x.c' 2>/dev/null"
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -n "$files" ] || { bad "no C files from git ls-files (not a git checkout?)"; finish; }
for f in $files; do
    if "$CF" "$f" | cmp -s - "$f"; then
        ok
    else
        bad "$f is not formatted (make format): $("$CF" "$f" | diff "$f" - | head -6 | tr '\n' ' ')"
    fi
done
finish
