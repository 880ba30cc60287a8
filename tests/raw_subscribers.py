#!/usr/bin/python3
"""raw_subscribers.py - N /mic subscribers that do the WebSocket handshake on plain sockets and then
do not read (the cheapest real client that never reads), for tests/e2e_mic_subscribers.sh.

Usage: raw_subscribers.py HOST PORT N [--rcvbuf BYTES] [--ready FILE] [--until FILE]
                          [--read-timeout S] [--path /mic] [--header 'Name: value']...
  Opens N connections and sends each an upgrade request for PATH (no Origin header unless given
  with --header), reading nothing. Then touches --ready FILE, waits until --until FILE exists
  (another process's signal: the feed is over), and only then reads each connection to its end
  (close frame, EOF or reset, or --read-timeout seconds of silence), answering nothing.
  --rcvbuf sets SO_RCVBUF before connecting, so that the kernel holds little for the client and the
  server's own queue is what fills.

Prints one JSON line per connection:
  {"status": 101, "msgs": N, "partials": N, "results": N, "close": CODE or null, "reason": "...",
   "end": "close" | "eof" | "reset" | "timeout"}
"""
import argparse
import base64
import json
import os
import select
import socket
import struct
import sys
import time


def parse_frames(buf, out):
    """Consumes whole frames from buf (bytearray); appends (opcode, payload) to out."""
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            if len(buf) < 4:
                return
            n = struct.unpack(">H", buf[2:4])[0]
            off = 4
        elif n == 127:
            if len(buf) < 10:
                return
            n = struct.unpack(">Q", buf[2:10])[0]
            off = 10
        if b1 & 0x80:  # a server never masks
            off += 4
        if len(buf) < off + n:
            return
        out.append((b0 & 0x0F, bytes(buf[off:off + n])))
        del buf[:off + n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--rcvbuf", type=int, default=0)
    ap.add_argument("--ready")
    ap.add_argument("--until")
    ap.add_argument("--read-timeout", type=float, default=5.0)
    ap.add_argument("--path", default="/mic")
    ap.add_argument("--header", action="append", default=[])
    a = ap.parse_args()

    socks = []
    for i in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if a.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        s.connect((a.host, a.port))
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        for h in a.header:
            req += h + "\r\n"
        s.sendall((req + "\r\n").encode())
        socks.append(s)
    if a.ready:
        open(a.ready, "w").close()
    while a.until and not os.path.exists(a.until):
        time.sleep(0.1)

    for s in socks:
        buf = bytearray()
        status, end, frames = None, "timeout", []
        s.setblocking(False)
        while True:
            r, _, _ = select.select([s], [], [], a.read_timeout)
            if not r:
                break
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                end = "reset"
                break
            if not d:
                end = "eof"
                break
            buf += d
            if status is None:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    continue
                status = int(buf[:i].split(b" ", 2)[1])
                del buf[:i + 4]
            parse_frames(buf, frames)
            if any(op == 8 for op, _ in frames):
                end = "close"
                break
        s.close()
        texts = [json.loads(p) for op, p in frames if op == 1]
        close = [p for op, p in frames if op == 8]
        code = struct.unpack(">H", close[0][:2])[0] if close and len(close[0]) >= 2 else None
        reason = close[0][2:].decode("utf-8", "replace") if close else ""
        print(json.dumps({"status": status, "msgs": len(texts),
                          "partials": sum("partial" in t for t in texts),
                          "results": sum("text" in t for t in texts),
                          "close": code, "reason": reason, "end": end}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
