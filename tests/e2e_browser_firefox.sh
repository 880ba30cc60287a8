#!/bin/bash
# e2e_browser_firefox.sh - the browser page (proto/www) in a real headless Firefox against the real daemon.
#
# Issue 5: the page must work in Chromium (tests/e2e_browser.sh) and Firefox.  Debian's firefox-esr
# (>= 129) speaks WebDriver BiDi itself, so puppeteer-core (npm, installed at test time into
# build/node_modules; it downloads no browser) drives it with no geckodriver.  Firefox's fake
# microphone plays a tone; tests/browser_firefox.mjs clicks Start, streams ~3 s, clicks Stop.
#
# Checks: the page reaches "listening", the level meter moves, the server's last message before the
# close is a final result (seen by a WebSocket wrapper, not the page's own bookkeeping), the socket
# closes with 1000, the console has no errors, and the daemon's /metrics counts > 2 s of audio for
# the one session.  A screenshot is kept in build/test-artifacts/browser-firefox.png.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
T=$(mktemp -d)
DPID=
trap '[ -n "${KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"; [ -n "$DPID" ] && kill "$DPID" 2>/dev/null' EXIT
ART=build/test-artifacts
mkdir -p "$ART"

FIREFOX=${FIREFOX:-/usr/bin/firefox-esr}
[ -x "$FIREFOX" ] || { bad "no $FIREFOX (Debian package firefox-esr: make deps-test)"; finish; }
[ -x build/asrd ] || { bad "build/asrd missing"; finish; }
# puppeteer-core 24.x still allows Node.js 18 (Debian 12's); 25 needs Node 22.  Never a browser download.
PP=24.43.1
if [ "$(node -p "require('./build/node_modules/puppeteer-core/package.json').version" 2>/dev/null)" != $PP ]; then
    PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix build --no-audit --no-fund --loglevel=error puppeteer-core@$PP >/dev/null ||
        { bad "npm install puppeteer-core@$PP"; finish; }
fi

MODEL=model/asrd-en.model
if [ ! -f "$MODEL" ]; then
    MODEL="$T/m.model"
    build/tests/tool_mkmodel "$MODEL" --layers 2 --hidden 48 --seed 11 >/dev/null
fi

ASRD=build/asrd
asrd_start d --config configs/asrd.yaml --model "$MODEL" --listen 127.0.0.1:0 --www proto/www ||
    { bad "$START_ERR"; finish; }
port=$PORT

ROOT="$ROOT" FIREFOX="$FIREFOX" timeout 120 node tests/browser_firefox.mjs "http://127.0.0.1:$port/" 3 \
    "$ROOT/$ART/browser-firefox.png" >"$T/page.json" 2>"$T/node.err"
rc=$?
[ $rc = 0 ] || { bad "driver exit $rc: $(tail -5 "$T/node.err")"; tail -5 "$T/d.log"; finish; }

get() { $PY -c "import json,sys; d=json.load(open('$T/page.json')); v=d.get('$1'); print(v if not isinstance(v,(list,dict)) else json.dumps(v))"; }
echo "browser $(get browserVersion): state=$(get state) close=$(get closeCode) context=$(get contextRate) Hz meter max=$(get maxLevel)% sent=$(get sentBytes) bytes"
echo "finals: $(get finals)"
[ "$(get exception)" = None ] || bad "driver: $(get exception) / log: $(get log)"
if [ "$(get listening)" = listening ]; then ok "page started listening"; else bad "page did not start: $(get error)"; fi
if $PY -c "import json; exit(0 if json.load(open('$T/page.json')).get('maxLevel',0) > 20 else 1)"; then
    ok "level meter moved"; else bad "level meter flat"; fi
if $PY - "$T/page.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1])).get('received') or []
last = json.loads(r[-1]) if r else {}
sys.exit(0 if isinstance(last.get('text'), str) and 'partial' not in last else 1)
PYEOF
then ok "a final result settled before the close"; else bad "last server message is not a final result"; fi
if [ "$(get state)" = closed ] && [ "$(get closeCode)" = 1000 ] && [ "$(get closes)" = "[1000]" ]; then
    ok "socket closed normally (1000)"; else bad "state $(get state), close $(get closeCode), closes $(get closes)"; fi
if [ "$(get errors)" = "[]" ]; then ok "no page errors in the console"; else bad "page errors: $(get errors)"; fi
if [ -s "$ART/browser-firefox.png" ]; then ok "screenshot $ART/browser-firefox.png"; else bad "no screenshot"; fi

metrics=$($PY -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$port/metrics', timeout=5).read().decode())")
audio=$(echo "$metrics" | awk '$1=="asrd_audio_seconds_total"{print $2}')
sessions=$(echo "$metrics" | awk '$1=="asrd_sessions_total"{print $2}')
echo "daemon: sessions_total=$sessions audio_seconds_total=$audio"
if [ "$sessions" = 1 ] && $PY -c "exit(0 if float('${audio:-0}') > 2 else 1)"; then
    ok "/metrics: the session's audio > 2 s ($audio s)"; else bad "/metrics: sessions $sessions, audio '$audio' s"; fi
kill -TERM $DPID; wait $DPID; DPID=
finish
