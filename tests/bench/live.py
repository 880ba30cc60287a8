#!/usr/bin/python3
"""live.py - `make bench-live`: how many real-time WebSocket sessions one asrd holds, with the
shipped configuration (configs/asrd.yaml: beam search + the CMU word LM) and with greedy decoding.

The load comes from build/tests/bench/live_load (tests/bench/live_load.c): one libwebsockets event
loop in C that opens N Vosk-protocol sessions, each streaming real speech (tests/data/*.flac,
looped, as 16 kHz PCM16) in 100 ms chunks paced in real time (chunk k is sent when it "has been
recorded", t_open + (k+1) * 0.1 s; session starts staggered over one chunk). The Python generator
it replaces was itself the bottleneck (~216 ms late at 320 sessions). Measured per level:

  latency   from writing a chunk to receiving the reply that covers it (the daemon answers every
            audio message with one partial/result, in order), p50/p95/max over all chunks;
  dropped   audio the daemon dropped (asrd_dropped_audio_seconds_total from /metrics), chunks never
            answered, sessions that failed or did not end with close code 1000;
  where the time goes: the daemon's CPU (% of one core) split into its network thread (the main
            thread: WebSocket I/O, JSON) and the rest (recognition workers), the load generator's
            CPU and how late it sent (its own lag), worker time per chunk (asrd_processing_seconds_total
            / chunks: decoding proper) against the latency (the rest is queueing and hand-off),
            and the machine's load average and busy CPU during the level (other jobs count).
  mem       (peak RSS during the level - RSS before it) / N.

Also: start-to-READY of each configuration (tests/bench/ready.py: sd_notify over a NOTIFY_SOCKET of
our own; median of 5 starts; wall split into the run-queue wait a loaded machine adds and the
daemon's own time, its main-thread CPU and time blocked). It prints, per configuration, the
largest N held with p95 <= 200 ms and nothing dropped (the knee) and the breakdown there.
Everything runs on this machine: the generator competes with the daemon for the same cores (its
CPU is printed).

The daemon runs configs/asrd.yaml with only limits.max_sessions (and max_sessions_per_address,
where the file has it) raised to fit the levels, --listen 127.0.0.1:PORT, and for the greedy run
--decoder greedy. Model: model/asrd-en.model (needed: the shipped configuration decodes with it).

Usage: tests/bench/live.py [--configs shipped,greedy] [--levels 50,100,...] [--seconds S] [--ready-only]
"""
import argparse
import asyncio
import collections
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import websockets  # the legacy client below

import ready as ready_bench  # tests/bench/ready.py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADGEN = os.path.join(ROOT, "build", "tests", "bench", "live_load")
ASRD = os.path.join(ROOT, "build", "asrd")
SHIPPED = os.path.join(ROOT, "configs", "asrd.yaml")
RATE = 16000
TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """(main thread CPU s, other threads CPU s) of a process."""
    main = rest = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # thread gone
        t = (int(v[11]) + int(v[12])) / TICK
        if int(tid) == pid:
            main += t
        else:
            rest += t
    return main, rest


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine_busy():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("asrd_") and " " in line:
            k, v = line.split(" ", 1)
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def write_speech(path):
    """load_speech()'s PCM written to path."""
    with open(path, "wb") as f:
        f.write(load_speech())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def bench_config(tmp, max_sessions):
    """configs/asrd.yaml with the session limits raised to fit the levels."""
    text = open(SHIPPED).read()
    text, n = re.subn(r"(?m)^(\s+max_sessions:\s*)\d+", lambda m: m.group(1) + str(max_sessions), text)
    if n != 1:
        sys.exit("live.py: configs/asrd.yaml has no limits.max_sessions line to raise")
    # The per-client-address limit (all load comes from 127.0.0.1): raised where the file sets it,
    # added where the daemon has the key but the file leaves it at its default.
    text, n = re.subn(r"(?m)^(\s+max_sessions_per_address:\s*)\d+", lambda m: m.group(1) + str(max_sessions), text)
    with open(os.path.join(ROOT, "daemon", "config.c")) as f:
        has_key = '"max_sessions_per_address"' in f.read()
    if n == 0 and has_key:
        text = re.sub(r"(?m)^(\s+)(max_sessions:\s*\d+)", lambda m: f"{m.group(1)}{m.group(2)}\n"
                      f"{m.group(1)}max_sessions_per_address: {max_sessions}", text, count=1)
    path = os.path.join(tmp, "bench.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_shipped(cfg, extra, tmp):
    """Starts asrd with a NOTIFY_SOCKET; returns (process, port, start-to-READY seconds)."""
    nsock = os.path.join(tmp, "notify-%d.sock" % time.monotonic_ns())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(nsock)
    s.settimeout(20)
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=nsock)
    env.pop("ASRD_MODEL", None)
    t0 = time.monotonic()
    p = subprocess.Popen([ASRD, "--config", cfg, "--listen", f"127.0.0.1:{port}", "--log-level", "warning"] + extra,
                         env=env, stdout=subprocess.DEVNULL, preexec_fn=raise_nofile)
    ready = None
    try:
        while ready is None:
            if b"READY=1" in s.recv(4096):
                ready = time.monotonic() - t0
    except socket.timeout:
        p.kill()
        sys.exit("live.py: the daemon did not send READY=1 within 20 s")
    finally:
        s.close()
        os.unlink(nsock)
    return p, port, ready


stop_daemon = ready_bench.stop  # SIGTERM, then SIGKILL after 30 s


def ready_ms(cfg, extra, tmp, runs=5):
    """Start-to-READY over runs starts (tests/bench/ready.py): (medians, every start's figures),
    each a dict of wall, cpu (main thread by READY), runq (its wait for a core), own, blocked in ms."""
    argv = [ASRD, "--config", cfg, "--listen", "127.0.0.1:0", "--log-level", "info"] + extra
    env = dict(os.environ)
    env.pop("ASRD_MODEL", None)
    return ready_bench.measure(argv, runs, env=env, tmp=tmp)


def level(pid, port, pcm, n, seconds):
    m0 = metrics(port)
    rss0 = proc_rss_kb(pid)
    main0, rest0 = thread_cpu(pid)
    busy0, tot0 = machine_busy()
    load0 = os.getloadavg()[0]
    peak = [rss0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.25):
            try:
                peak[0] = max(peak[0], proc_rss_kb(pid))
            except OSError:
                return

    th = threading.Thread(target=sample)
    th.start()
    t0 = time.monotonic()
    out = subprocess.run([LOADGEN, "--port", str(port), "--sessions", str(n), "--seconds", str(seconds),
                          "--pcm", pcm], capture_output=True, text=True, preexec_fn=raise_nofile)
    wall = time.monotonic() - t0
    stop.set()
    th.join()
    if out.returncode != 0 or not out.stdout.strip():
        sys.exit(f"live.py: live_load failed: {out.stderr.strip()[:500]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    main1, rest1 = thread_cpu(pid)
    busy1, tot1 = machine_busy()
    m1 = metrics(port)
    d = lambda k: m1.get(k, 0.0) - m0.get(k, 0.0)  # noqa: E731
    r.update({
        "wall": wall,
        "net_pct": 100 * (main1 - main0) / wall, "work_pct": 100 * (rest1 - rest0) / wall,
        "gen_pct": 100 * r["cpu_s"] / wall,
        "machine_busy_pct": 100 * (busy1 - busy0) / max(1, tot1 - tot0) * (os.cpu_count() or 1),
        "load": (load0 + os.getloadavg()[0]) / 2,
        "dropped_s": d("asrd_dropped_audio_seconds_total"),
        "decode_ms_per_chunk": 1000 * d("asrd_processing_seconds_total") / max(1, r["chunks"]),
        "mem_kb": (peak[0] - rss0) / n,
        "stderr": out.stderr.strip()[:300],
    })
    r["daemon_pct"] = r["net_pct"] + r["work_pct"]
    return r


# ---- The asyncio client of the earlier Python load generator: no longer what make bench-live
# runs, kept for tests/bench/scaleout.py and tests/bench/soak.py, which import these. ----

CHUNK_S = 0.1


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


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


HEAD = (f"{'N':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'dropped':>9} {'daemon':>7} {'net thr':>7} "
        f"{'workers':>7} {'loadgen':>7} {'gen late':>8} {'decode/chunk':>12} {'KB/sess':>8} {'machine':>8} "
        f"{'load':>5}  verdict")


def row(r, held, dropped):
    drop_txt = (f"{r['dropped_s']:.1f}s/{r['unanswered']}/{r['bad_close'] + r['errors']}" if dropped else "0")
    return (f"{r['n']:>5} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f} {drop_txt:>9} "
            f"{r['daemon_pct']:>6.0f}% {r['net_pct']:>6.0f}% {r['work_pct']:>6.0f}% {r['gen_pct']:>6.0f}% "
            f"{r['late_p95_ms']:>6.0f}ms {r['decode_ms_per_chunk']:>10.2f}ms {r['mem_kb']:>8.0f} "
            f"{r['machine_busy_pct']:>7.0f}% {r['load']:>5.1f}  {'held' if held else 'NOT held'}")


def run_config(name, extra, cfg, levels, seconds, p95_ms, pcm, tmp, ready_only=False):
    rmed, rall = ready_ms(cfg, extra, tmp, 7 if ready_only else 5)
    med = rmed["wall"]
    print(f"\n== {name}: asrd --config configs/asrd.yaml{' ' + ' '.join(extra) if extra else ''} "
          f"(limits raised to {max(levels) + 16} sessions)")
    print(f"start-to-READY: {ready_bench.summary(rmed, rall)}; load average {os.getloadavg()[0]:.1f}")
    if ready_only:
        return 0, med
    proc, port, _ = start_shipped(cfg, extra, tmp)
    print(HEAD, flush=True)
    best, best_row, first_bad, fails = 0, None, None, 0
    try:
        for n in levels:
            r = level(proc.pid, port, pcm, n, seconds)
            dropped = r["dropped_s"] > 0 or r["unanswered"] > 0 or r["bad_close"] > 0 or r["errors"] > 0
            held = r["p95_ms"] <= p95_ms and not dropped
            print(row(r, held, dropped), flush=True)
            if held:
                best, best_row, fails = max(best, n), r, 0
            else:
                first_bad = first_bad or r
                fails += 1
                if fails >= 2:
                    break
    finally:
        stop_daemon(proc)
    print(f"{name}: largest N held with p95 <= {p95_ms:g} ms and nothing dropped: {best}")
    for label, r in (("at the knee", best_row), ("first level not held", first_bad)):
        if r:
            print(f"  {label} (N={r['n']}): daemon {r['daemon_pct']:.0f}% of one core = network thread "
                  f"{r['net_pct']:.0f}% + workers {r['work_pct']:.0f}%; load generator {r['gen_pct']:.0f}% "
                  f"(sends p95 {r['late_p95_ms']:.0f} ms late); worker time {r['decode_ms_per_chunk']:.2f} ms "
                  f"per chunk against a p50 latency of {r['p50_ms']:.0f} ms (the rest: queueing, hand-off, "
                  f"I/O); machine {r['machine_busy_pct']:.0f}% busy of {100 * (os.cpu_count() or 1)}%, "
                  f"load average {r['load']:.1f}")
    return best, med


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="shipped,greedy")
    ap.add_argument("--levels", default="50,100,200,300,400,500,600,700,800,1000")
    ap.add_argument("--seconds", type=float, default=8.0, help="audio streamed per session per level")
    ap.add_argument("--p95-ms", type=float, default=200.0)
    ap.add_argument("--ready-only", action="store_true", help="start-to-READY only (7 starts each)")
    a = ap.parse_args()
    for b in (ASRD, LOADGEN):
        if not os.access(b, os.X_OK):
            sys.exit(f"live.py: missing {b} (make)")
    if not os.path.exists(os.path.join(ROOT, "model", "asrd-en.model")):
        sys.exit("live.py: no model/asrd-en.model (the shipped configuration decodes with it)")
    tmp = tempfile.mkdtemp()
    levels = [int(x) for x in a.levels.split(",")]
    pcm = os.path.join(tmp, "speech.raw")
    write_speech(pcm)
    cfg = bench_config(tmp, max(levels) + 16)
    print(f"asrd bench-live: {os.cpu_count()} cores, {a.seconds:g} s of audio per session per level, 100 ms "
          f"chunks paced in real time by build/tests/bench/live_load (C, libwebsockets); load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    print("columns: daemon/net thr/workers/loadgen = CPU in % of one core; gen late = p95 of how late the "
          "generator sent against the schedule; decode/chunk = worker time per 100 ms chunk; machine = busy "
          "CPU of all cores (other jobs included); dropped = audio s / unanswered chunks / bad sessions")
    results = {}
    for name in a.configs.split(","):
        extra = {"shipped": [], "greedy": ["--decoder", "greedy"]}.get(name)
        if extra is None:
            sys.exit(f"live.py: unknown configuration {name} (shipped, greedy)")
        results[name] = run_config(name, extra, cfg, levels, a.seconds, a.p95_ms, pcm, tmp, a.ready_only)
    if a.ready_only:
        print("\nsummary: " + "; ".join(f"{k}: READY {v[1]:.0f} ms" for k, v in results.items()))
    else:
        print("\nsummary: " + "; ".join(f"{k}: {v[0]} sessions held, READY {v[1]:.0f} ms" for k, v in results.items()))


if __name__ == "__main__":
    main()
