#!/bin/bash
# e2e_exposure.sh - what a client may reach (issue 12, defect 7), with real clients (curl, Python
# websockets) against a real daemon on 127.0.0.1:
#  1. auth.token protects /metrics and the page as well as the WebSocket: without it (or with a
#     wrong one of the same length) 401 with "WWW-Authenticate: Bearer" (a WebSocket upgrade too:
#     the client reads the status); with "Authorization: Bearer T" or ?token=T 200; /healthz
#     stays open (load balancers), and so do the page's scripts and style sheet (no data);
#  2. Origin allow-list for WebSocket upgrades: no Origin (Vosk clients) and the Origin of the Host
#     the request came to (the page served from here) are accepted, any other site's Origin is
#     refused with HTTP 403 (cross-site WebSocket hijacking), on /asr and on /mic; with
#     auth.origins the listed ones are accepted too, and "*" accepts any;
#  3. limits.max_sessions_per_address: one address cannot take every slot: its next session is
#     closed with 1013 and a reason while another address (127.0.0.2) still gets one; behind a proxy
#     listed in limits.trusted_proxies the client is the rightmost X-Forwarded-For address (a
#     missing or malformed header counts the proxy, other peers' headers are ignored).
# Each refusal is counted in /metrics (asrd_errors_total{kind="auth"|"origin"|"address_limit"}).
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ASRD=${ASRD_BIN:-$PWD/build/asrd}
MK=$PWD/build/tests/tool_mkmodel
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_bins "$ASRD" "$MK"
e2e_tmp
unset ASRD_MODEL
"$MK" "$T/m.model" --layers 2 --hidden 48 --seed 11 >/dev/null || { bad "tool_mkmodel failed"; finish; }

# start NAME CONFIG_TEXT: the daemon on a port of its own (sets PORT, DPID)
start() {
    printf '%s\n' "$2" >"$T/$1.yaml"
    asrd_start "$1" --config "$T/$1.yaml" --model "$T/m.model" --listen 127.0.0.1:0 || { bad "$START_ERR"; return 1; }
}
stop() { kill -TERM "$DPID"; wait "$DPID"; }
# http PATH [curl args]: the status code of GET PATH
http() { local p=$1; shift; curl -s -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$p"; }
# metric NAME [curl args]
metric() { local m=$1; shift; curl -s "$@" "http://127.0.0.1:$PORT/metrics" | grep -F "$m " | sed 's/.* //'; }
# ws PATH [ORIGIN] [LOCAL_ADDR]: "open" when the handshake succeeds (the session then sends eof),
# "refused STATUS" when the server answers the upgrade with an HTTP status, else "failed"
ws() {
    $PY - "ws://127.0.0.1:$PORT$1" "${2:-}" "${3:-}" <<'EOF'
import asyncio, sys, websockets
url, origin, local = sys.argv[1], sys.argv[2] or None, sys.argv[3] or None
async def main():
    kw = {"local_addr": (local, 0)} if local else {}
    try:
        async with websockets.connect(url, origin=origin, open_timeout=5, **kw) as w:
            print("open")
    except websockets.exceptions.InvalidStatusCode as e:
        print("refused", e.status_code)
    except Exception as e:
        print("failed", type(e).__name__)
asyncio.run(main())
EOF
}

# ===== 1. the token on HTTP as well =====
TOK=k9Qz-7Lmw2
if start token "auth: {token: \"$TOK\"}
www: {root: \"$PWD/proto/www\"}"; then
    check "/metrics without the token: 401" [ "$(http /metrics)" = 401 ]
    check "/metrics with a wrong token of the same length: 401" [ "$(http /metrics -H "Authorization: Bearer k9Qz-7Lmw3")" = 401 ]
    hdr=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/metrics" | tr -d '\r' | grep -i '^www-authenticate:')
    check "401 carries the challenge (RFC 6750): '$hdr'" [ "$hdr" = 'www-authenticate: Bearer realm="asrd"' ]
    check "/metrics with a longer token: 401" [ "$(http /metrics -H "Authorization: Bearer ${TOK}x")" = 401 ]
    check "/metrics with Authorization: Bearer: 200" [ "$(http /metrics -H "Authorization: Bearer $TOK")" = 200 ]
    check "/metrics?token=: 200" [ "$(http "/metrics?token=$TOK")" = 200 ]
    check "the page without the token: 401" [ "$(http /)" = 401 ]
    check "/index.html without the token: 401" [ "$(http /index.html)" = 401 ]
    check "the page with ?token=: 200" [ "$(http "/?token=$TOK")" = 200 ]
    check "the page with a wrong ?token=: 401" [ "$(http "/?token=nope")" = 401 ]
    check "the page's script without the token: 200" [ "$(http /app.js)" = 200 ]
    check "/healthz without the token: 200" [ "$(http /healthz)" = 200 ]
    check "the page passes its ?token= on to the WebSocket" grep -q "searchParams.set('token'" proto/www/app.js
    check "WebSocket without the token: HTTP 401" [ "$(ws /asr)" = "refused 401" ]
    check "WebSocket with a wrong ?token=: HTTP 401" [ "$(ws "/asr?token=nope")" = "refused 401" ]
    check "WebSocket with ?token=: open" [ "$(ws "/asr?token=$TOK")" = open ]
    n=$(metric 'asrd_errors_total{kind="auth"}' -H "Authorization: Bearer $TOK")
    check "refusals counted (auth: $n)" [ "${n:-0}" -ge 7 ]
    stop
fi

# ===== 2. Origin =====
if start origin "limits: {}"; then
    check "no Origin (Vosk clients): open" [ "$(ws /asr)" = open ]
    check "Origin of this host (the page served from here): open" [ "$(ws /asr "http://127.0.0.1:$PORT")" = open ]
    check "Origin of this host, other case: open" [ "$(ws /asr "HTTP://127.0.0.1:$PORT")" = open ]
    check "another site's Origin: HTTP 403" [ "$(ws /asr http://evil.example)" = "refused 403" ]
    check "another site's Origin on /mic: HTTP 403" [ "$(ws /mic http://evil.example)" = "refused 403" ]
    check "this host on another port: HTTP 403" [ "$(ws /asr "http://127.0.0.1:$((PORT + 1))")" = "refused 403" ]
    check "Origin null (a sandboxed page or file://): HTTP 403" [ "$(ws /asr null)" = "refused 403" ]
    n=$(metric 'asrd_errors_total{kind="origin"}')
    check "refusals counted (origin: $n)" [ "${n:-0}" = 4 ]
    check "the refusal is logged with the Origin" grep -q "Origin 'http://evil.example'" "$T/origin.log"
    stop
fi
if start origins 'auth: {origins: ["https://app.example", "http://localhost:8080"]}'; then
    check "auth.origins: a listed Origin: open" [ "$(ws /asr https://app.example)" = open ]
    check "auth.origins: the other listed one: open" [ "$(ws /asr http://localhost:8080)" = open ]
    check "auth.origins: this host still: open" [ "$(ws /asr "http://127.0.0.1:$PORT")" = open ]
    check "auth.origins: an unlisted one: HTTP 403" [ "$(ws /asr https://app.example.evil)" = "refused 403" ]
    stop
fi
if start anyorigin 'auth: {origins: ["*"]}'; then
    check "auth.origins [\"*\"]: any Origin: open" [ "$(ws /asr http://evil.example)" = open ]
    stop
fi

# ===== 3. per-address limit =====
if start peraddr 'limits: {max_sessions: 10, max_sessions_per_address: 2}'; then
    $PY - "$PORT" >"$T/peraddr.out" 2>&1 <<'EOF'
import asyncio, sys, websockets
port = sys.argv[1]
url = f"ws://127.0.0.1:{port}/asr"
async def third(local):
    """A session beyond the limit is accepted, then closed: (code, reason); None if it stays open."""
    async with websockets.connect(url, local_addr=(local, 0)) as w:
        try:
            await asyncio.wait_for(w.recv(), 3)
        except websockets.ConnectionClosed as e:
            return e.code, e.reason
        except asyncio.TimeoutError:
            return None
        return "message"
async def main():
    a = await websockets.connect(url, local_addr=("127.0.0.1", 0))
    b = await websockets.connect(url, local_addr=("127.0.0.1", 0))
    print("same", await third("127.0.0.1"))
    print("other", await third("127.0.0.2"))
    await a.close(); await b.close()
    await asyncio.sleep(0.5)
    print("after", await third("127.0.0.1"))
asyncio.run(main())
EOF
    cat "$T/peraddr.out"
    check "a third session from 127.0.0.1: close 1013 with the reason" \
        grep -q "^same (1013, 'too many sessions from this address, try again later')" "$T/peraddr.out"
    check "a session from 127.0.0.2 meanwhile: open" grep -q "^other None" "$T/peraddr.out"
    check "once the two closed, 127.0.0.1 again: open" grep -q "^after None" "$T/peraddr.out"
    n=$(metric 'asrd_errors_total{kind="address_limit"}')
    check "counted (address_limit: $n)" [ "${n:-0}" = 1 ]
    stop
fi
# Behind a proxy (limits.trusted_proxies): 127.0.0.1 plays HAProxy, X-Forwarded-For names the client.
if start proxied 'limits: {max_sessions: 10, max_sessions_per_address: 1, trusted_proxies: ["::ffff:127.0.0.1"]}'; then
    $PY - "$PORT" >"$T/proxied.out" 2>&1 <<'EOF'
import asyncio, sys, websockets
url = f"ws://127.0.0.1:{sys.argv[1]}/asr"
async def opened(local, xff):
    """Opens a session from local with X-Forwarded-For xff (None: no header): the connection if
    it stays open, else the (code, reason) it was closed with."""
    hdr = {"X-Forwarded-For": xff} if xff else {}
    w = await websockets.connect(url, local_addr=(local, 0), extra_headers=hdr)
    try:
        await asyncio.wait_for(w.recv(), 1.5)
    except websockets.ConnectionClosed as e:
        return (e.code, e.reason)
    except asyncio.TimeoutError:
        return w
    return "message"
def show(name, r):
    print(name, "open" if isinstance(r, websockets.WebSocketClientProtocol) else r)
async def main():
    show("client1", await opened("127.0.0.1", "10.0.0.1"))
    show("client1-again", await opened("127.0.0.1", "198.51.100.9, 10.0.0.1"))  # spoofed left part
    show("client2", await opened("127.0.0.1", "10.0.0.1, 10.0.0.2"))
    show("proxy-itself", await opened("127.0.0.1", None))
    show("proxy-malformed", await opened("127.0.0.1", "10.0.0.3, not-an-address"))
    show("untrusted", await opened("127.0.0.2", "10.0.0.4"))
    show("untrusted-again", await opened("127.0.0.2", "10.0.0.5"))
asyncio.run(main())
EOF
    cat "$T/proxied.out"
    limit="(1013, 'too many sessions from this address, try again later')"
    check "trusted proxy, X-Forwarded-For 10.0.0.1: open" grep -qx "client1 open" "$T/proxied.out"
    check "a second session of 10.0.0.1 (a spoofed address left of it): 1013" grep -qxF "client1-again $limit" "$T/proxied.out"
    check "another client (rightmost 10.0.0.2) through the same proxy: open" grep -qx "client2 open" "$T/proxied.out"
    check "the proxy without the header counts as itself: open" grep -qx "proxy-itself open" "$T/proxied.out"
    check "... and a malformed header counts as the proxy too: 1013" grep -qxF "proxy-malformed $limit" "$T/proxied.out"
    check "an untrusted peer: open" grep -qx "untrusted open" "$T/proxied.out"
    check "... its X-Forwarded-For is ignored: its second session 1013" grep -qxF "untrusted-again $limit" "$T/proxied.out"
    check "the daemon says why it counted the proxy" grep -q "X-Forwarded-For from 127.0.0.1 ends in 'not-an-address'" "$T/proxied.log"
    stop
fi
check "the default per-address limit is 128 (configs/asrd.yaml)" grep -q '^  max_sessions_per_address: 128' configs/asrd.yaml
finish
