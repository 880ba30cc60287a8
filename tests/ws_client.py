#!/usr/bin/python3
"""ws_client.py - a Vosk-style WebSocket client for asrd's end-to-end tests (Debian's
python3-websockets 10.4; run with /usr/bin/python3).

Usage: ws_client.py URL [options] [FILE.wav]
  --rate R         send {"config": {"sample_rate": R}} first (the file is resampled to R with sox
                   beforehand by the caller; R must equal the WAV's rate unless --raw-config)
  --chunk N        bytes per binary message (default 8000); N may be odd
  --jitter         vary chunk sizes pseudo-randomly between 1 and 2*N bytes (seeded)
  --words 0|1      send "words" in the config
  --send TEXT      send this text message first (may repeat), e.g. '{"config": ...}' or 'garbage'
  --no-eof         do not send {"eof" : 1}; wait for the server to close
  --hold S         after sending the audio, wait S seconds before eof
  --token T        send "Authorization: Bearer T"
  --subprotocol P  request this subprotocol
  --pace X         sleep so that audio goes at X times real time (0 = as fast as possible)
  --listen         only receive (a /mic subscriber): print messages until closed or --max-seconds
  --max-seconds S  give up after S seconds
  --cork           hold the TCP socket corked (TCP_CORK) while sending the text messages and the
                   first audio chunk, so that they reach the server in one segment (one server read)
  --signal-pid P --signal-after N   send SIGTERM to P after N audio chunks

Prints one JSON object per line on stdout:
  {"msg": <each server message, parsed>}  ...  {"close": code, "reason": "...", "text": "...", "n_replies": N,
  "n_binary_sent": M}
where "text" joins the "text" of every result (final results and the eof result) with single spaces.
Exit status 0 (a refused handshake prints {"refused": "..."} and exits 3).
"""
import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sys
import wave

import websockets


def pcm_of(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, "mono 16-bit WAV expected"
        return w.getframerate(), w.readframes(w.getnframes())


async def run(a, out=None):
    """One client session (a: the parsed options); its lines go to out (default stdout)."""
    headers = {}
    if a.token is not None:
        headers["Authorization"] = "Bearer " + a.token
    kw = {"extra_headers": headers, "max_size": None, "ping_interval": None}
    if a.subprotocol:
        kw["subprotocols"] = [a.subprotocol]
    if a.url.startswith("wss:"):
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        kw["ssl"] = ctx
    out = out or sys.stdout
    texts, n_replies, sent = [], 0, 0
    try:
        ws = await websockets.connect(a.url, **kw)
    except Exception as e:  # refused handshake (auth) or connection error
        print(json.dumps({"refused": type(e).__name__ + ": " + str(e)}), file=out, flush=True)
        return 3

    async def receiver():
        nonlocal n_replies
        try:
            async for m in ws:
                n_replies += 1
                try:
                    obj = json.loads(m)
                except ValueError:
                    obj = {"unparsable": m if isinstance(m, str) else repr(m)}
                if isinstance(obj, dict) and obj.get("text"):
                    texts.append(obj["text"])
                print(json.dumps({"msg": obj}), file=out, flush=True)
        except websockets.ConnectionClosed:
            pass

    rx = asyncio.ensure_future(receiver())
    sock = ws.transport.get_extra_info("socket") if a.cork else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)

    def uncork():
        nonlocal sock
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            except OSError:  # already closed: nothing left to flush
                pass
            sock = None

    try:
        for t in a.send:
            await ws.send(t)
        if a.rate is not None or a.words is not None:
            conf = {}
            if a.rate is not None:
                conf["sample_rate"] = a.rate
            if a.words is not None:
                conf["words"] = bool(a.words)
            await ws.send(json.dumps({"config": conf}))
        if a.file and not a.listen:
            rate, pcm = pcm_of(a.file)
            rnd = random.Random(7)
            i = 0
            while i < len(pcm):
                n = rnd.randint(1, 2 * a.chunk) if a.jitter else a.chunk
                chunk = pcm[i:i + n]
                i += n
                await ws.send(chunk)
                sent += 1
                uncork()
                if a.signal_pid and sent == a.signal_after:
                    os.kill(a.signal_pid, signal.SIGTERM)
                if a.pace > 0:
                    await asyncio.sleep(len(chunk) / 2 / rate / a.pace)
        if a.hold:
            await asyncio.sleep(a.hold)
        uncork()
        if not a.no_eof and not a.listen:
            await ws.send('{"eof" : 1}')
    except websockets.ConnectionClosed:
        pass
    uncork()
    try:
        await asyncio.wait_for(rx, a.max_seconds)
    except asyncio.TimeoutError:
        await ws.close()
    print(json.dumps({"close": ws.close_code, "reason": ws.close_reason, "text": " ".join(texts),
                      "n_replies": n_replies, "n_binary_sent": sent}), file=out, flush=True)
    return 0


def parser():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("file", nargs="?")
    p.add_argument("--rate", type=int)
    p.add_argument("--chunk", type=int, default=8000)
    p.add_argument("--jitter", action="store_true")
    p.add_argument("--words", type=int)
    p.add_argument("--send", action="append", default=[])
    p.add_argument("--no-eof", action="store_true")
    p.add_argument("--hold", type=float, default=0)
    p.add_argument("--token")
    p.add_argument("--subprotocol")
    p.add_argument("--pace", type=float, default=0)
    p.add_argument("--listen", action="store_true")
    p.add_argument("--max-seconds", type=float, default=60)
    p.add_argument("--signal-pid", type=int)
    p.add_argument("--signal-after", type=int, default=1)
    p.add_argument("--cork", action="store_true")
    return p


def main():
    a = parser().parse_args()
    sys.exit(asyncio.run(run(a)))


if __name__ == "__main__":
    main()
