#!/usr/bin/python3
"""live.py - `make bench-live`: how many real-time WebSocket sessions one asrd holds.

For rising N, N concurrent Vosk-protocol sessions each stream real speech (tests/data/*.flac,
looped) as 16 kHz PCM16 in 100 ms chunks paced in real time (chunk k is sent when it "has been
recorded", t0 + (k+1) * 0.1 s; session starts are staggered over one chunk).  Measured per level:

  latency   from sending a chunk to receiving the reply that covers it (the daemon answers every
            audio message with one partial/result, in order), p50/p95/max over all chunks;
  dropped   audio the daemon dropped (asrd_dropped_audio_seconds_total from /metrics) plus chunks
            never answered, and sessions that did not end with a normal close;
  cpu       daemon CPU time / wall time / N (percent of one core per session);
  mem       (peak RSS during the level - RSS before it) / N.

Also: start-to-READY (sd_notify over a NOTIFY_SOCKET of our own) and the RSS of idle sessions.
It prints the largest N held with p95 <= 200 ms and nothing dropped.  The load generator runs on
the same machine (its CPU use is printed too): on 2 cores it competes with the daemon.

Model: model/asrd-en.model if present, else a random model with the shipped architecture
(tool_mkmodel; the compute per frame is the same, only the words are garbage).

Usage: tests/bench/live.py [--levels 1,8,16,...] [--seconds S] [--threads T] [--model PATH]
"""
import argparse
import asyncio
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHUNK_S = 0.1
RATE = 16000
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def load_speech():
    """Real speech from tests/data as 16 kHz PCM16LE bytes (sox), concatenated."""
    pcm = b""
    for name in ("sample.flac", "digit8k.flac"):
        path = os.path.join(ROOT, "tests", "data", name)
        if os.path.exists(path):
            pcm += subprocess.run(["sox", path, "-t", "raw", "-r", str(RATE), "-c", "1", "-b", "16",
                                   "-e", "signed", "-"], check=True, capture_output=True).stdout
    if not pcm:
        sys.exit("live.py: no speech files in tests/data")
    return pcm


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_daemon(model, threads, max_sessions):
    """Starts asrd with a NOTIFY_SOCKET; returns (process, port, start-to-READY seconds)."""
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "bench.yaml")
    with open(cfg, "w") as f:
        f.write(f"limits:\n  max_sessions: {max_sessions}\n")
    nsock = os.path.join(tmp, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(nsock)
    s.settimeout(10)
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=nsock)
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.join(ROOT, "build", "asrd"), "--config", cfg, "--model", model,
                          "--listen", f"127.0.0.1:{port}", "--threads", str(threads), "--log-level", "warning"],
                         env=env, stdout=subprocess.DEVNULL)
    ready = None
    try:
        while ready is None:
            if b"READY=1" in s.recv(4096):
                ready = time.monotonic() - t0
    except socket.timeout:
        p.kill()
        sys.exit("live.py: the daemon did not send READY=1 within 10 s")
    return p, port, ready


async def session(url, pcm, seconds, delay, lat, res):
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    nbytes = int(RATE * CHUNK_S) * 2
    sent = collections.deque()
    replies = 0
    try:
        async with websockets.connect(url, max_size=None, ping_interval=None, close_timeout=30) as ws:
            await ws.send(json.dumps({"config": {"sample_rate": RATE}}))

            async def reader():
                nonlocal replies
                async for m in ws:
                    t = loop.time()
                    d = json.loads(m)
                    if "partial" in d or "text" in d:
                        replies += 1
                        if sent:
                            lat.append(t - sent.popleft())

            rt = asyncio.create_task(reader())
            n = int(round(seconds / CHUNK_S))
            off = (int(delay * 1000) * 3331) % (len(pcm) // nbytes) * nbytes  # sessions differ
            t0 = loop.time()
            late = 0.0
            for k in range(n):
                due = t0 + (k + 1) * CHUNK_S
                now = loop.time()
                if due > now:
                    await asyncio.sleep(due - now)
                late = max(late, loop.time() - due)
                if off + nbytes > len(pcm):
                    off = 0
                sent.append(loop.time())
                await ws.send(pcm[off:off + nbytes])
                off += nbytes
            await ws.send('{"eof" : 1}')
            await rt
            res.append({"chunks": n, "replies": replies, "close": ws.close_code, "late": late})
    except Exception as e:  # noqa: BLE001 - a failed session is a result, not a crash
        res.append({"chunks": int(round(seconds / CHUNK_S)), "replies": replies, "close": None,
                    "late": 0.0, "error": repr(e)})


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


async def level(pid, port, pcm, n, seconds):
    url = f"ws://127.0.0.1:{port}/"
    lat, res = [], []
    rss0 = proc_rss_kb(pid)
    drop0 = metric(port, "asrd_dropped_audio_seconds_total")
    cpu0, me0, t0 = proc_cpu(pid), time.process_time(), time.monotonic()
    peak = [rss0]

    async def sample_rss():
        while True:
            peak[0] = max(peak[0], proc_rss_kb(pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.gather(*(session(url, pcm, seconds, CHUNK_S * i / n, lat, res) for i in range(n)))
    sampler.cancel()
    wall = time.monotonic() - t0
    cpu = proc_cpu(pid) - cpu0
    me = time.process_time() - me0
    dropped_s = metric(port, "asrd_dropped_audio_seconds_total") - drop0
    unanswered = sum(r["chunks"] - min(r["chunks"], r["replies"]) for r in res)
    bad_close = sum(1 for r in res if r["close"] != 1000)
    errors = [r["error"] for r in res if "error" in r][:3]
    return {
        "n": n, "p50": pct(lat, 0.5) * 1000, "p95": pct(lat, 0.95) * 1000, "max": max(lat or [0]) * 1000,
        "dropped_s": dropped_s, "unanswered": unanswered, "bad_close": bad_close,
        "cpu_pct": 100 * cpu / wall / n, "daemon_cpu_pct": 100 * cpu / wall, "gen_cpu_pct": 100 * me / wall,
        "mem_kb": (peak[0] - rss0) / n, "late_ms": 1000 * max([r["late"] for r in res] or [0]),
        "errors": errors,
    }


async def idle_rss(pid, port, m):
    """RSS growth per idle session: m connections that only sent their config."""
    rss0 = proc_rss_kb(pid)
    conns = []
    for _ in range(m):
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/", ping_interval=None)
        await ws.send(json.dumps({"config": {"sample_rate": RATE}}))
        conns.append(ws)
    await asyncio.sleep(1.0)
    rss1 = proc_rss_kb(pid)
    for ws in conns:
        await ws.close()
    return (rss1 - rss0) / m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="1,8,16,32,64,96,128,160,200,256,320,400,512,640,800")
    ap.add_argument("--seconds", type=float, default=8.0, help="audio streamed per session per level")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--p95-ms", type=float, default=200.0)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp()
    model = a.model or os.path.join(ROOT, "model", "asrd-en.model")
    real = os.path.exists(model)
    if not real:
        model = os.path.join(tmp, "bench.model")
        subprocess.run([os.path.join(ROOT, "build", "tests", "tool_mkmodel"), model, "--layers", "3",
                        "--hidden", "320", "--type", "gru", "--stack", "3", "--stride", "3",
                        "--ceps", "40", "--mels", "40", "--seed", "5"], check=True, stdout=subprocess.DEVNULL)
    levels = [int(x) for x in a.levels.split(",")]
    pcm = load_speech()
    proc, port, ready = start_daemon(model, a.threads, max(max(levels), 100) + 16)
    print(f"asrd bench-live: model {'shipped' if real else 'random, shipped architecture (GRU 3x320)'}, "
          f"{a.threads} worker threads, {os.cpu_count()} cores, {a.seconds:g} s per session per level, "
          f"100 ms chunks paced in real time")
    print(f"start-to-READY: {ready * 1000:.1f} ms; idle RSS {proc_rss_kb(proc.pid)} KB")
    best = 0
    try:
        per_idle = asyncio.run(idle_rss(proc.pid, port, 100))
        print(f"idle session: {per_idle:.1f} KB RSS each (100 open sessions, config sent, no audio)")
        print(f"{'N':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'dropped':>9} {'cpu/sess':>9} "
              f"{'daemon':>7} {'loadgen':>8} {'KB/sess':>8}  verdict")
        fails = 0
        for n in levels:
            r = asyncio.run(level(proc.pid, port, pcm, n, a.seconds))
            dropped = r["dropped_s"] > 0 or r["unanswered"] > 0 or r["bad_close"] > 0
            held = r["p95"] <= a.p95_ms and not dropped
            drop_txt = f"{r['dropped_s']:.1f}s/{r['unanswered']}" if dropped else "0"
            print(f"{n:>5} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['max']:>8.1f} {drop_txt:>9} "
                  f"{r['cpu_pct']:>8.2f}% {r['daemon_cpu_pct']:>6.0f}% {r['gen_cpu_pct']:>7.0f}% "
                  f"{r['mem_kb']:>8.0f}  {'held' if held else 'NOT held'}"
                  + (f" (loadgen {r['late_ms']:.0f} ms late)" if r["late_ms"] > 50 else "")
                  + (f" closes!=1000: {r['bad_close']} {r['errors']}" if r["bad_close"] else ""), flush=True)
            if held:
                best = max(best, n)
                fails = 0
            else:
                fails += 1
                if fails >= 2:
                    break
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"largest N held with p95 <= {a.p95_ms:g} ms and no drops: {best}")


if __name__ == "__main__":
    main()
