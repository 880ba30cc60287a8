#!/bin/bash
# e2e_install.sh - `make install DESTDIR=... PREFIX=...` puts every piece where it belongs and the
# installed pieces work together: binary (755), model (when the tree has one), configuration,
# systemd unit (paths rewritten for PREFIX; verify clean), man page (renders without warnings),
# browser page, the word LM and its copyright notice (when the tree has data/lm/cmu-en-us.lmbin); the
# installed binary with the installed configuration (beam search with the LM) serves the installed
# page, and without an LM where it looks (/usr/local/share/asrd) refuses to start, naming make lm;
# an existing configuration is not overwritten; PREFIX=/usr puts the configuration in /etc.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
T=$(mktemp -d)
DPID=
trap 'rm -rf "$T"; [ -n "$DPID" ] && kill "$DPID" 2>/dev/null' EXIT
D=$T/root
make -s install DESTDIR="$D" PREFIX=/usr/local >"$T/make.out" 2>&1 || { cat "$T/make.out"; bad "make install"; }
find "$D" -type f | sed "s|^$D||" | sort
mode() { stat -c %a "$D$1" 2>/dev/null; }
[ "$(mode /usr/local/bin/asrd)" = 755 ] && ok "binary 755" || bad "binary"
for f in /usr/local/etc/asrd/asrd.yaml /usr/local/lib/systemd/system/asrd.service /usr/local/share/man/man1/asrd.1 \
         /usr/local/share/asrd/www/index.html /usr/local/share/asrd/www/app.js /usr/local/share/asrd/www/worklet.js \
         /usr/local/share/asrd/www/style.css; do
    [ "$(mode $f)" = 644 ] && ok "$f (644)" || bad "$f missing or mode $(mode $f)"
done
if [ -f model/asrd-en.model ]; then
    cmp -s model/asrd-en.model "$D/usr/local/share/asrd/asrd-en.model" && ok "model installed" || bad "model"
else
    grep -q 'model not installed' "$T/make.out" && ok "no model in the tree: said so" || bad "missing model not reported"
fi
# The word LM the shipped configuration decodes with (decoder.lm: default).
LM=data/lm/cmu-en-us.lmbin ILM=$D/usr/local/share/asrd/cmu-en-us.lmbin
if [ -f "$LM" ]; then
    [ "$(mode /usr/local/share/asrd/cmu-en-us.lmbin)" = 644 ] && cmp -s "$LM" "$ILM" && ok "LM installed (644)" || bad "LM"
    cmp -s model/recipe/cmu-en-us.copyright "$ILM.copyright" &&
        [ "$(mode /usr/local/share/asrd/cmu-en-us.lmbin.copyright)" = 644 ] && ok "LM copyright notice installed" ||
        bad "LM copyright notice"
    LMARG=(--lm "$ILM")
else
    grep -q 'the word LM (--lm default) not installed' "$T/make.out" && ok "no LM in the tree: said so" ||
        bad "missing LM not reported"
    echo "note: no $LM (make lm): the installed daemon is started with --decoder greedy"
    LMARG=(--decoder greedy)
fi
cmp -s configs/asrd.yaml "$D/usr/local/etc/asrd/asrd.yaml" && ok "config is the shipped one" || bad "config differs"
U=$D/usr/local/lib/systemd/system/asrd.service
grep -q '^ExecStart=/usr/local/bin/asrd --config /usr/local/etc/asrd/asrd.yaml$' "$U" && ok "unit ExecStart" || bad "unit ExecStart: $(grep ExecStart "$U")"
# The template unit (one instance per config file) and the HAProxy example.
UT=$D/usr/local/lib/systemd/system/asrd@.service
[ "$(mode '/usr/local/lib/systemd/system/asrd@.service')" = 644 ] &&
    grep -q '^ExecStart=/usr/local/bin/asrd --config /usr/local/etc/asrd/%i.yaml$' "$UT" &&
    ok "template unit asrd@.service (644, ExecStart)" || bad "template unit: $(grep ExecStart "$UT" 2>&1)"
cmp -s configs/haproxy.cfg "$D/usr/local/share/asrd/haproxy.cfg" && ok "haproxy.cfg installed" || bad "haproxy.cfg"
sed "s|ExecStart=/usr/local/bin/asrd|ExecStart=$D/usr/local/bin/asrd|" "$UT" >"$T/asrd@.service"
systemd-analyze verify --man=no "$T/asrd@x.service" 2>"$T/vt.err"
[ ! -s "$T/vt.err" ] && ok "installed template unit verifies (instance asrd@x)" || { bad "installed template unit"; cat "$T/vt.err"; }
sed "s|ExecStart=/usr/local/bin/asrd|ExecStart=$D/usr/local/bin/asrd|" "$U" >"$T/asrd.service"
systemd-analyze verify --man=no "$T/asrd.service" 2>"$T/v.err"
[ ! -s "$T/v.err" ] && ok "installed unit verifies" || { bad "installed unit"; cat "$T/v.err"; }
if command -v man >/dev/null; then
    man -l --warnings=all "$D/usr/local/share/man/man1/asrd.1" >"$T/man.txt" 2>"$T/man.err"
    [ ! -s "$T/man.err" ] && grep -q 'SIGTERM' "$T/man.txt" && ok "man page renders without warnings" || { bad "man page"; head -5 "$T/man.err"; }
    grep -q '/usr/local/etc/asrd/asrd.yaml' "$T/man.txt" && ok "man page names the installed config" || bad "man FILES"
else
    echo "note: no man(1) here: man page rendering not checked"
    grep -q '/usr/local/etc/asrd/asrd.yaml' "$D/usr/local/share/man/man1/asrd.1" && ok "man page names the installed config" || bad "man FILES"
fi
"$D/usr/local/bin/asrd" --version | grep -q '^asrd ' && ok "installed binary runs" || bad "--version"

# The installed binary + config serve the installed page (model: the tree's or a random one). The
# binary looks for the LM in /usr/local/share/asrd, not in this DESTDIR tree: it is named explicitly.
MODEL=model/asrd-en.model
[ -f "$MODEL" ] || { MODEL="$T/m.model"; build/tests/tool_mkmodel "$MODEL" --layers 2 --hidden 48 --seed 11 >/dev/null; }
if [ ! -e /usr/local/share/asrd/cmu-en-us.lmbin ]; then
    timeout 20 "$D/usr/local/bin/asrd" --config "$D/usr/local/etc/asrd/asrd.yaml" --model "$MODEL" --listen 127.0.0.1:0 \
        2>"$T/nolm.err"; rc=$?
    [ $rc = 1 ] && grep -q '/usr/local/share/asrd/cmu-en-us.lmbin; build it with make lm' "$T/nolm.err" &&
        ok "no installed LM: start-up error naming it and make lm" || bad "no LM: rc $rc, $(cat "$T/nolm.err")"
fi
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$D/usr/local/bin/asrd" --config "$D/usr/local/etc/asrd/asrd.yaml" --model "$MODEL" --listen 127.0.0.1:$port \
    --www "$D/usr/local/share/asrd/www" "${LMARG[@]}" 2>"$T/d.err" &
DPID=$!
page=
for _ in $(seq 50); do
    page=$($PY -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$port/', timeout=1).read().decode())" 2>/dev/null) && break
    sleep 0.1
done
echo "$page" | grep -q 'worklet\|app.js' && ok "installed page served" || { bad "page not served"; cat "$T/d.err"; }
if [ -f "$LM" ]; then
    grep -q "decoder: beam 64, LM $ILM (" "$T/d.err" && ok "installed daemon decodes with the installed LM" ||
        bad "decoder line: $(grep 'decoder:' "$T/d.err")"
fi
kill -TERM $DPID; wait $DPID; DPID=

# Reinstall keeps an edited configuration.
echo "# edited" >>"$D/usr/local/etc/asrd/asrd.yaml"
make -s install DESTDIR="$D" PREFIX=/usr/local >/dev/null 2>&1
grep -q '^# edited' "$D/usr/local/etc/asrd/asrd.yaml" && ok "existing config kept" || bad "config overwritten"

# PREFIX=/usr: configuration in /etc, unit and man page follow.
make -s install DESTDIR="$T/usr" PREFIX=/usr >/dev/null 2>&1
[ -f "$T/usr/etc/asrd/asrd.yaml" ] && grep -q '^ExecStart=/usr/bin/asrd --config /etc/asrd/asrd.yaml$' \
    "$T/usr/usr/lib/systemd/system/asrd.service" && ok "PREFIX=/usr: /etc and /usr/bin" || bad "PREFIX=/usr layout"
grep -q '^ExecStart=/usr/bin/asrd --config /etc/asrd/%i.yaml$' "$T/usr/usr/lib/systemd/system/asrd@.service" &&
    ok "PREFIX=/usr: asrd@.service reads /etc/asrd/%i.yaml" || bad "PREFIX=/usr template unit"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
