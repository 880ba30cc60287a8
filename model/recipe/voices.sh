#!/bin/bash
# voices.sh - fetch and unpack the extra TTS voices of the corpus (called by corpus.sh; idempotent).
#
# RHVoice (rhvoice, rhvoice-english, librhvoice-core7, librhvoice-audio2: Debian non-free, GPL-2+;
# only the voices bdl and clb are kept: slt is reserved for evaluation, evgeniy-eng, lyubov and alan
# are not used) and SVOX Pico (libttspico-utils, libttspico0, libttspico-data: Apache-2.0; libpopt0
# for pico2wave). The .debs come from the Debian mirror already configured in /etc/apt through a
# PRIVATE apt configuration under DIR/apt (own sources list, lists and cache); the machine's apt
# sources are never changed and nothing is installed: `dpkg -x` unpacks them into DIR/root.
#
# Both tools have their data directories compiled in (/usr/share/RHVoice and /etc/RHVoice in
# libRHVoice_core, /usr/share/pico/lang/ in pico2wave; neither reads an environment variable), so
# DIR/lib holds copies whose paths are replaced by relative ones of the same length
# (./././././././data, ./././config, ././././././././lang/) and the tools run in DIR/run, where
# data, config and lang point into DIR/root. worker.py runs them so:
#   cd DIR/run && LD_LIBRARY_PATH=DIR/lib:DIR/root/usr/lib/x86_64-linux-gnu \
#       DIR/root/usr/bin/RHVoice-test -p bdl -r RATE% -t PITCH% -o OUT.wav < text   (24 kHz)
#   cd DIR/run && LD_LIBRARY_PATH=... DIR/lib/pico2wave -l en-US -w OUT.wav TEXT   (16 kHz)
#
# Usage: voices.sh [DIR]   (default ${ASRD_DATA:-data}/tts, relative to the repository root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
dir=${1:-${ASRD_DATA:-data}/tts}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
r=$dir/root
PKGS="rhvoice rhvoice-english librhvoice-core7 librhvoice-audio2 libttspico-utils libttspico0
      libttspico-data libpopt0"
export LD_LIBRARY_PATH=$dir/lib:$r/usr/lib/x86_64-linux-gnu

works() {
    [ -x "$dir/lib/pico2wave" ] && [ -f "$dir/lib/libRHVoice_core.so.7" ] || return 1
    local t v
    t=$(mktemp -d)
    for v in bdl clb; do
        (cd "$dir/run" && echo "testing one two three" \
            | "$r/usr/bin/RHVoice-test" -p $v -o "$t/$v.wav") \
            >/dev/null 2>&1 && [ "$(stat -c %s "$t/$v.wav" 2>/dev/null || echo 0)" -gt 20000 ] \
            || { rm -rf "$t"; return 1; }
    done
    for v in en-US en-GB; do
        (cd "$dir/run" && "$dir/lib/pico2wave" -l $v -w "$t/$v.wav" "testing one two three") \
            >/dev/null 2>&1 && [ "$(stat -c %s "$t/$v.wav" 2>/dev/null || echo 0)" -gt 20000 ] \
            || { rm -rf "$t"; return 1; }
    done
    rm -rf "$t"
}
works && exit 0

if ! ls "$dir"/debs/rhvoice-english_*.deb "$dir"/debs/libttspico-data_*.deb >/dev/null 2>&1; then
    # The mirror of the machine's own Debian sources (deb822 or one-line format).
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }')
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' \
                                 /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || { echo "voices.sh: no Debian mirror in /etc/apt" >&2; exit 1; }
    apt=$dir/apt
    mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$dir/debs"
    echo "deb $mirror bookworm main contrib non-free" > "$apt/sources.list"
    cat > "$apt/apt.conf" <<EOF
Dir::Etc::sourcelist "$apt/sources.list";
Dir::Etc::sourceparts "$apt/parts";
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
EOF
    export APT_CONFIG=$apt/apt.conf
    apt-get -q update >&2
    (cd "$dir/debs" && apt-get -q download $PKGS 2>&1 | grep -v unsandboxed >&2)
fi
rm -rf "$r"
mkdir -p "$r"
for deb in "$dir"/debs/*.deb; do
    dpkg -x "$deb" "$r"
done
# Voices we must not use go away, so that no profile name can reach them.
for v in "$r"/usr/share/RHVoice/voices/*; do
    case ${v##*/} in bdl|clb) ;; *) rm -rf "$v" ;; esac
done
mkdir -p "$dir/lib" "$dir/run/config"
/usr/bin/python3 - "$r" "$dir/lib" <<'EOF'
import os, sys
r, lib = sys.argv[1:]
def patch(src, dst, pairs):
    b = open(src, "rb").read()
    for old, new in pairs:
        assert len(old) == len(new)
        if b.count(old + b"\0") < 1:
            sys.exit("voices.sh: %s not found in %s" % (old.decode(), src))
        b = b.replace(old + b"\0", new + b"\0")
    with open(dst + ".tmp", "wb") as f:
        f.write(b)
    os.chmod(dst + ".tmp", 0o755)
    os.replace(dst + ".tmp", dst)
patch(r + "/usr/lib/x86_64-linux-gnu/libRHVoice_core.so.7.0.0", lib + "/libRHVoice_core.so.7",
      [(b"/usr/share/RHVoice", b"./././././././data"), (b"/etc/RHVoice", b"./././config")])
patch(r + "/usr/bin/pico2wave", lib + "/pico2wave",
      [(b"/usr/share/pico/lang/", b"././././././././lang/")])
EOF
: > "$dir/run/config/RHVoice.conf"
ln -sfn ../root/usr/share/RHVoice "$dir/run/data"
ln -sfn ../root/usr/share/pico/lang "$dir/run/lang"
if ! works; then
    echo "voices.sh: RHVoice bdl/clb or Pico en-US/en-GB do not speak (see $dir)" >&2
    exit 1
fi
echo "voices.sh: RHVoice bdl, clb and Pico en-US, en-GB ready in $dir" >&2
