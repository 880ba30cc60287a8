#!/usr/bin/python3
"""soak.py - `make bench-soak`: N sessions x M minutes of real speech against one asrd running the
shipped configuration (configs/asrd.yaml: beam search with the word LM data/lm/cmu-en-us.lmbin,
endpointing after 700 ms of silence, the shipped model), to show that nothing is lost and nothing
grows over a long run.

Each session streams real speech in real time (100 ms PCM16 chunks at 16 kHz, paced as a
microphone would deliver them): utterances of the shared corpus's dev sets (librispeech, cathy,
speechocean; tests/data when $ASRD_SHARED has none) with 1 s of silence after each, so the daemon's
endpointer ends utterances and sends final results mid-stream; each session starts at its own place
in the speech. After M minutes a session sends eof, reads its last result and expects a normal
close (1000). Sessions start staggered over the first 10 s.

Reported (and written to build/bench/soak.tsv):
  finals    sent by the daemon (asrd_results_total on /metrics) vs received by the clients: every
            final result sent must arrive; also partials received and non-empty finals
  errors    sessions that failed (exception, close other than 1000, no last result), the daemon's
            asrd_errors_total (every kind) and audio it dropped (asrd_dropped_audio_seconds_total)
  memory    the daemon's RSS after READY, after all sessions connected, at the end of the streams,
            its peak, and 5 s after every session closed
  cpu       daemon CPU over the run (percent of one core) and the load generator's own
Exit status 1 when a final was lost, a session failed, or audio was dropped.

Client code (RSS, CPU, /metrics, speech loading) comes from tests/bench/live.py.
Usage: tests/bench/soak.py [--sessions N] [--minutes M] [--config FILE] [--threads T] [--asrd BIN]
"""
import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import live  # noqa: E402  (proc_cpu, proc_rss_kb, metric, load_speech, free_port)

ROOT = live.ROOT
RATE = 16000
CHUNK = int(RATE * 0.1) * 2  # bytes of 100 ms PCM16


def shared_speech(max_seconds=600):
    """Up to max_seconds of real utterances (several sets, interleaved) as PCM16LE at 16 kHz,
    each followed by 1 s of silence; falls back to live.load_speech() (tests/data). Converted once
    (sox) and kept in build/bench/soak-speech.pcm."""
    cache = os.path.join(ROOT, "build", "bench", "soak-speech.pcm")
    if os.path.exists(cache) and os.path.exists(cache + ".n"):
        with open(cache, "rb") as f, open(cache + ".n") as g:
            return f.read(), int(g.read())
    shared = os.environ.get("ASRD_SHARED") or os.path.join(ROOT, "..", "shared")
    lists = []
    for s in ("librispeech", "cathy", "speechocean"):
        tsv = os.path.join(shared, "corpus", s, "dev.tsv")
        if os.path.exists(tsv):
            with open(tsv) as f:
                lists.append([os.path.join(shared, "corpus", s, l.split("\t")[0]) for l in f if "\t" in l])
    files = []
    for i in range(max(map(len, lists), default=0)):
        files += [l[i] for l in lists if i < len(l)]
    gap = bytes(RATE * 2)
    pcm, n = bytearray(), 0
    for path in files:
        if len(pcm) >= max_seconds * RATE * 2:
            break
        r = subprocess.run(["sox", path, "-t", "raw", "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed", "-"],
                           capture_output=True)
        if r.returncode == 0 and r.stdout:
            pcm += r.stdout + gap
            n += 1
    if not pcm:
        pcm = bytearray(live.load_speech() + gap)
        n = 0
    pcm = bytes(pcm[:len(pcm) // CHUNK * CHUNK])
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "wb") as f, open(cache + ".n", "w") as g:
        f.write(pcm)
        g.write(str(n))
    return pcm, n


def start_daemon(config, threads, asrd):
    """asrd with the given config on a free loopback port; waits for READY=1 (NOTIFY_SOCKET)."""
    tmp = tempfile.mkdtemp()
    nsock = os.path.join(tmp, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(nsock)
    s.settimeout(60)
    port = live.free_port()
    cmd = [asrd, "--config", config, "--listen", f"127.0.0.1:{port}",
           "--log-level", "warning"]
    if threads:
        cmd += ["--threads", str(threads)]
    p = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, NOTIFY_SOCKET=nsock), stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while b"READY=1" not in s.recv(4096):
            pass
    except socket.timeout:
        p.kill()
        sys.exit("soak.py: the daemon did not send READY=1 within 60 s")
    return p, port, time.monotonic() - t0


async def session(url, pcm, seconds, delay, out):
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    r = {"finals": 0, "nonempty": 0, "partials": 0, "close": None, "last": False, "late": 0.0}
    try:
        async with websockets.connect(url, max_size=None, ping_interval=None, close_timeout=60) as ws:
            await ws.send(json.dumps({"config": {"sample_rate": RATE}}))
            eof_sent = False

            async def reader():
                try:
                    async for m in ws:
                        d = json.loads(m)
                        if "text" in d:
                            r["finals"] += 1
                            r["nonempty"] += bool(d["text"])
                            r["last"] = eof_sent
                        elif "partial" in d:
                            r["partials"] += 1
                except websockets.ConnectionClosed as e:  # the writer sees it too; say when
                    r.setdefault("error", f"connection lost after {loop.time() - t0:.1f} s: {e!r}")

            t0 = loop.time()
            rt = asyncio.create_task(reader())
            n = int(round(seconds / 0.1))
            off = (int(delay * 1000) * 7919 * CHUNK) % len(pcm)  # sessions speak different parts
            for k in range(n):
                due = t0 + (k + 1) * 0.1
                now = loop.time()
                if due > now:
                    await asyncio.sleep(due - now)
                r["late"] = max(r["late"], loop.time() - due)
                await ws.send(pcm[off:off + CHUNK])
                off = (off + CHUNK) % len(pcm)
            eof_sent = True
            await ws.send('{"eof" : 1}')
            await rt
            r["close"] = ws.close_code
    except Exception as e:  # noqa: BLE001 - a failed session is a result
        r.setdefault("error", repr(e))
    out.append(r)


def errors_total(port):
    text = live.urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("asrd_errors_total{"))


async def run(args):
    pcm, n_utt = shared_speech()
    p, port, ready = start_daemon(args.config, args.threads, args.asrd)
    pid = p.pid
    url = f"ws://127.0.0.1:{port}/"
    seconds = args.minutes * 60
    rss = {"ready": live.proc_rss_kb(pid)}
    m0 = {k: live.metric(port, k) for k in ("asrd_results_total", "asrd_dropped_audio_seconds_total",
                                            "asrd_audio_seconds_total")}
    e0 = errors_total(port)
    cpu0, me0, t0 = live.proc_cpu(pid), time.process_time(), time.monotonic()
    peak = [rss["ready"]]
    series = []

    async def sampler():
        while True:
            v = live.proc_rss_kb(pid)
            peak[0] = max(peak[0], v)
            series.append((time.monotonic() - t0, v))
            await asyncio.sleep(5)

    st = asyncio.create_task(sampler())
    res = []
    stagger = min(10.0, seconds / 4)
    tasks = [asyncio.create_task(session(url, pcm, seconds, stagger * i / args.sessions, res))
             for i in range(args.sessions)]
    await asyncio.sleep(stagger + 2)
    rss["connected"] = live.proc_rss_kb(pid)
    await asyncio.sleep(max(0.0, seconds - 3))
    rss["streams_end"] = live.proc_rss_kb(pid)
    await asyncio.gather(*tasks)
    wall = time.monotonic() - t0
    st.cancel()
    cpu, me = live.proc_cpu(pid) - cpu0, time.process_time() - me0
    await asyncio.sleep(5)
    rss["closed"] = live.proc_rss_kb(pid)
    rss["peak"] = peak[0]
    m1 = {k: live.metric(port, k) for k in m0}
    e1 = errors_total(port)
    p.terminate()
    rc = p.wait(timeout=60)

    sent = int(m1["asrd_results_total"] - m0["asrd_results_total"])
    got = sum(r["finals"] for r in res)
    failed = [r for r in res if "error" in r or r["close"] != 1000 or not r["last"]]
    dropped = m1["asrd_dropped_audio_seconds_total"] - m0["asrd_dropped_audio_seconds_total"]
    audio = m1["asrd_audio_seconds_total"] - m0["asrd_audio_seconds_total"]
    late = max([r["late"] for r in res] or [0])
    rows = [
        ("sessions", args.sessions, ""), ("minutes", args.minutes, ""),
        ("speech_utterances", n_utt, "files looped, 1 s of silence after each"),
        ("ready_s", round(ready, 3), "start to READY=1"),
        ("audio_recognised_s", round(audio, 1), f"of {args.sessions * seconds} s streamed"),
        ("finals_sent", sent, "asrd_results_total"), ("finals_received", got, ""),
        ("finals_lost", sent - got, ""), ("finals_nonempty", sum(r["nonempty"] for r in res), ""),
        ("partials_received", sum(r["partials"] for r in res), ""),
        ("sessions_failed", len(failed), "exception, close != 1000 or no last result"),
        ("daemon_errors", int(e1 - e0), "asrd_errors_total, every kind"),
        ("dropped_audio_s", round(dropped, 3), "asrd_dropped_audio_seconds_total"),
        ("rss_ready_mb", round(rss["ready"] / 1024, 1), ""),
        ("rss_connected_mb", round(rss["connected"] / 1024, 1), "all sessions streaming"),
        ("rss_streams_end_mb", round(rss["streams_end"] / 1024, 1), "just before eof"),
        ("rss_peak_mb", round(rss["peak"] / 1024, 1), "sampled every 5 s"),
        ("rss_closed_mb", round(rss["closed"] / 1024, 1), "5 s after every session closed"),
        ("daemon_cpu_pct", round(100 * cpu / wall, 1), "of one core"),
        ("generator_cpu_pct", round(100 * me / wall, 1), "of one core"),
        ("max_send_late_s", round(late, 3), "load generator falling behind real time"),
        ("exit_after_sigterm", rc, ""),
    ]
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench", "soak.tsv"), "w") as f:
        for k, v, note in rows:
            f.write(f"{k}\t{v}\t{note}\n")
    print(f"soak: {args.sessions} sessions x {args.minutes} min, config {args.config}")
    for k, v, note in rows:
        print(f"  {k:22s} {v!s:>10s}  {note}")
    step = max(1, len(series) // 12)
    print("  rss over time (s: MB): " + ", ".join(f"{t:.0f}: {v / 1024:.0f}" for t, v in series[::step]))
    for r in failed[:5]:
        print("  failed session:", r.get("error") or f"close {r['close']}, last result {r['last']}")
    return 0 if sent == got and not failed and dropped == 0 and rc == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "asrd.yaml"))
    ap.add_argument("--threads", type=int, default=0, help="worker threads (0: the config's)")
    ap.add_argument("--asrd", default=os.path.join(ROOT, "build", "asrd"), help="the daemon binary")
    args = ap.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
