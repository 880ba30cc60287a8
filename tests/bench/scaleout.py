#!/usr/bin/python3
"""scaleout.py - `make bench-scaleout`: what HAProxy in front costs, on this machine.

Two set-ups on the same cores with the load of `make bench-live` (tests/bench/live.py and its C load
generator build/tests/bench/live_load: N concurrent Vosk sessions of real speech in 100 ms chunks
paced in real time, latency from each chunk to the reply covering it), every daemon running
configs/asrd.yaml (beam search + CMU LM) with its session limits raised to fit the levels:
  one   one asrd with W worker threads; the generator connects to it directly;
  two   two asrd with W/2 workers each behind HAProxy (configs/haproxy.cfg itself: only the ports, the
        log target, the stats socket and the per-server maxconn are rewritten); the generator
        connects to HAProxy.
For rising N it prints p50/p95/max latency, drops, the CPU of the servers (daemons, and haproxy in
"two") and of the generator, and for each set-up the largest N held with p95 <= 200 ms and nothing
dropped. The same worker count in both: on one host a second instance buys isolation and rolling
restarts, not cores; the figures show what the balancer and the split cost.

Usage: tests/bench/scaleout.py [--levels 50,100,...] [--seconds S] [--threads W] [--p95-ms MS]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import live  # noqa: E402  (the session, the speech and the daemon start-up of make bench-live)

ROOT = live.ROOT


def haproxy_conf(tmp, front, ports, maxconn):
    """configs/haproxy.cfg with the bench's ports (the rest as shipped)."""
    with open(os.path.join(ROOT, "configs", "haproxy.cfg")) as f:
        text = f.read()
    text = re.sub(r"(?m)^(\s*)log /dev/log local0", r"\1log stdout format raw local0", text)
    text = text.replace("/run/haproxy/asrd.sock", os.path.join(tmp, "admin.sock"))
    text = re.sub(r"(?m)^(\s*)bind 127\.0\.0\.1:2700", rf"\g<1>bind 127.0.0.1:{front}", text)
    text = re.sub(r"(?m)^(\s*default-server .*maxconn )\d+", rf"\g<1>{maxconn}", text)
    text = re.sub(r"(?m)^\s*server asrd-.*\n", "", text)
    text += "".join(f"    server asrd-{i} 127.0.0.1:{p}\n" for i, p in enumerate(ports))
    text = re.sub(r"(?m)^(\s*)option httplog", r"\1option dontlog-normal\n\1option httplog", text)
    path = os.path.join(tmp, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


def level(pids, port, metric_ports, pcm, n, seconds):
    """One level of build/tests/bench/live_load through `port`; CPU summed over pids (daemons and
    haproxy), drops over every daemon's /metrics."""
    drop = lambda: sum(live.metrics(p).get("asrd_dropped_audio_seconds_total", 0.0) for p in metric_ports)  # noqa: E731
    drop0, cpu0, t0 = drop(), sum(live.proc_cpu(p) for p in pids), time.monotonic()
    out = subprocess.run([live.LOADGEN, "--port", str(port), "--sessions", str(n), "--seconds", str(seconds),
                          "--pcm", pcm], capture_output=True, text=True, preexec_fn=live.raise_nofile)
    wall = time.monotonic() - t0
    if out.returncode != 0 or not out.stdout.strip():
        sys.exit(f"scaleout.py: live_load failed: {out.stderr.strip()[:500]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["cpu_pct"] = 100 * (sum(live.proc_cpu(p) for p in pids) - cpu0) / wall
    r["gen_pct"] = 100 * r["cpu_s"] / wall
    r["dropped_s"] = drop() - drop0
    return r


def run_levels(name, pids, port, metric_ports, pcm, levels, seconds, p95_ms):
    print(f"{name}: {'N':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'dropped':>9} {'servers':>8} {'loadgen':>8}"
          f"  verdict", flush=True)
    best, fails = 0, 0
    for n in levels:
        r = level(pids, port, metric_ports, pcm, n, seconds)
        dropped = r["dropped_s"] > 0 or r["unanswered"] > 0 or r["bad_close"] > 0 or r["errors"] > 0
        held = r["p95_ms"] <= p95_ms and not dropped
        drop_txt = f"{r['dropped_s']:.1f}s/{r['unanswered']}/{r['bad_close'] + r['errors']}" if dropped else "0"
        print(f"{name}: {n:>5} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f} {drop_txt:>9} "
              f"{r['cpu_pct']:>7.0f}% {r['gen_pct']:>7.0f}%  {'held' if held else 'NOT held'}", flush=True)
        if held:
            best, fails = max(best, n), 0
        else:
            fails += 1
            if fails >= 2:
                break
    return best


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="50,100,150,200,250,300,350,400,500,600")
    ap.add_argument("--seconds", type=float, default=8.0, help="audio streamed per session per level")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="worker threads in all")
    ap.add_argument("--p95-ms", type=float, default=200.0)
    a = ap.parse_args()
    if not shutil.which("haproxy"):
        sys.exit("scaleout.py: no haproxy (make deps-test installs it)")
    for b in (live.ASRD, live.LOADGEN):
        if not os.access(b, os.X_OK):
            sys.exit(f"scaleout.py: missing {b} (make)")
    levels = [int(x) for x in a.levels.split(",")]
    cap = max(levels) + 16
    tmp = tempfile.mkdtemp()
    pcm = os.path.join(tmp, "speech.raw")
    live.write_speech(pcm)
    cfg = live.bench_config(tmp, cap)  # configs/asrd.yaml (beam + CMU LM), session limits raised
    half = max(1, a.threads // 2)
    hv = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split()[2]
    print(f"asrd bench-scaleout: {os.cpu_count()} cores, configs/asrd.yaml, {a.seconds:g} s of audio per session "
          f"per level, 100 ms chunks paced in real time by build/tests/bench/live_load; haproxy {hv}; load "
          f"average {os.getloadavg()[0]:.1f} at the start")
    print("columns: servers = CPU of the daemons (and haproxy) in % of one core; loadgen = the generator's; "
          "dropped = audio s / unanswered chunks / bad sessions", flush=True)

    proc, port, _ = live.start_shipped(cfg, ["--threads", str(a.threads)], tmp)
    try:
        best_one = run_levels("one", [proc.pid], port, [port], pcm, levels, a.seconds, a.p95_ms)
    finally:
        live.stop_daemon(proc)

    procs, hp = [], None
    try:
        ports = []
        for _ in range(2):
            p, pt, _ = live.start_shipped(cfg, ["--threads", str(half)], tmp)
            procs.append(p)
            ports.append(pt)
        front = live.free_port()
        hp = subprocess.Popen(["haproxy", "-db", "-f", haproxy_conf(tmp, front, ports, cap)],
                              stdout=open(os.path.join(tmp, "haproxy.log"), "w"), stderr=subprocess.STDOUT,
                              preexec_fn=live.raise_nofile)
        time.sleep(3)  # both servers UP: rise 2 x inter 1s
        best_two = run_levels("two", [p.pid for p in procs] + [hp.pid], front, ports, pcm, levels,
                              a.seconds, a.p95_ms)
    finally:
        for p in procs:
            live.stop_daemon(p)
        if hp:
            hp.terminate()
            hp.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"largest N held with p95 <= {a.p95_ms:g} ms and nothing dropped: one asrd ({a.threads} workers) "
          f"{best_one}; two asrd ({half} + {half} workers) behind HAProxy {best_two}")


if __name__ == "__main__":
    main()
