#!/usr/bin/python3
"""ready.py - `make bench-ready`: start-to-READY of asrd (issue 13), from exec to READY=1 on a
NOTIFY_SOCKET of our own, over N starts (median, and every start), split so that a figure taken
on a loaded machine says what the load added:

  wall     spawn -> the kernel's receive timestamp of the READY=1 datagram (SO_TIMESTAMPNS: the
           bench's own wake-up delay on a busy machine is not counted)
  cpu      CPU time of the daemon's main thread by READY: start-up runs on it (the worker threads
           only wait for work; the LM's checksum thread starts after READY)
  runq     time that thread was runnable but waiting for a core by READY: on a shared machine,
           the other jobs' share, not the daemon's doing
  own      wall - runq: the start on an idle machine (cpu + blocked)
  blocked  wall - cpu - runq: asleep (disk reads, locks, waiting for other threads)
cpu and runq are the daemon's own figures at READY (its "listening on" log line, from
/proc/thread-self/schedstat); when the line lacks them, /proc/PID/task/PID/schedstat read when
the bench receives READY=1 (which then counts what the thread did, and waited, after sending it).

The daemon runs with --listen 127.0.0.1:0 --log-level info and whatever follows `--`; run the
bench in a network namespace of its own (`ip netns exec NS tests/bench/ready.py`).

Usage: tests/bench/ready.py [--runs 7] [--config configs/asrd.yaml] [--asrd build/asrd] [-- ARGS]
"""
import argparse
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; also the control message type
FIELDS = ("wall", "cpu", "runq", "own", "blocked")


def main_thread_sched(pid):
    """(run ms, run-queue wait ms) of the process's main thread from /proc/PID/schedstat."""
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        run, wait = f.read().split()[:2]
    return int(run) / 1e6, int(wait) / 1e6


LOGGED = re.compile(r"listening on .*: CPU ([0-9.]+) ms, waiting for a core ([0-9.]+) ms")


def start(argv, env=None, timeout=20.0, tmp=None, stderr=None):
    """Starts argv with a NOTIFY_SOCKET of its own; returns (process, figures) once READY=1 has
    arrived, figures a dict of FIELDS in ms (cpu and runq as read when READY=1 arrived). The
    process is left running (the caller stops it). Exits the script if READY=1 does not come
    within timeout seconds."""
    path = os.path.join(tmp or tempfile.gettempdir(), "ready-%d-%d.sock" % (os.getpid(), time.monotonic_ns()))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.settimeout(timeout)
    env = dict(env if env is not None else os.environ, NOTIFY_SOCKET=path)
    p = None
    try:
        t0 = time.time_ns()  # CLOCK_REALTIME, as the datagram's timestamp
        p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        while True:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16))
            if b"READY=1" in msg:
                break
        cpu, runq = main_thread_sched(p.pid)
        t1 = time.time_ns()
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = struct.unpack("qq", data[:16])
                t1 = sec * 1_000_000_000 + nsec
    except socket.timeout:
        if p:
            p.kill()
            p.wait()
        sys.exit(f"ready.py: {argv[0]} did not send READY=1 within {timeout:g} s")
    finally:
        s.close()
        os.unlink(path)
    return p, figures((t1 - t0) / 1e6, cpu, runq)


def figures(wall, cpu, runq):
    return {"wall": wall, "cpu": cpu, "runq": runq, "own": wall - runq, "blocked": max(0.0, wall - cpu - runq)}


def stop(p):
    p.terminate()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def measure(argv, runs, env=None, tmp=None):
    """runs starts of argv, each stopped after READY; returns (medians, every start's figures)."""
    all_runs = []
    for i in range(runs):
        log = os.path.join(tmp or tempfile.gettempdir(), "ready-%d-%d.log" % (os.getpid(), i))
        with open(log, "w") as err:
            p, fig = start(argv, env=env, tmp=tmp, stderr=err)
        stop(p)
        with open(log) as f:
            m = LOGGED.search(f.read())
        os.unlink(log)
        if m:  # the daemon's own figures at READY
            fig = figures(fig["wall"], float(m.group(1)), float(m.group(2)))
        all_runs.append(fig)
    med = {k: statistics.median(r[k] for r in all_runs) for k in FIELDS}
    return med, all_runs


def summary(med, all_runs):
    """One line: the medians, then every start's wall."""
    return (f"READY wall {med['wall']:.1f} ms = run-queue wait {med['runq']:.1f} + own {med['own']:.1f} "
            f"(main-thread CPU {med['cpu']:.1f}, blocked {med['blocked']:.1f}); medians of {len(all_runs)} "
            f"starts, walls {', '.join('%.0f' % r['wall'] for r in all_runs)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--asrd", default=os.path.join(ROOT, "build", "asrd"))
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "asrd.yaml"), help="'' for none")
    ap.add_argument("args", nargs="*", help="more asrd arguments (after --)")
    a = ap.parse_args()
    if not os.access(a.asrd, os.X_OK):
        sys.exit(f"ready.py: missing {a.asrd} (make)")
    argv = [a.asrd] + (["--config", a.config] if a.config else [])
    argv += ["--listen", "127.0.0.1:0", "--log-level", "info"] + a.args
    env = dict(os.environ)
    env.pop("ASRD_MODEL", None)
    with tempfile.TemporaryDirectory() as tmp:
        med, all_runs = measure(argv, a.runs, env=env, tmp=tmp)
    print(f"asrd start-to-READY: {' '.join(argv[1:])}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'start':>5} " + " ".join(f"{k:>8}" for k in FIELDS) + "   (ms)")
    for i, r in enumerate(all_runs, 1):
        print(f"{i:>5} " + " ".join(f"{r[k]:>8.1f}" for k in FIELDS))
    print(f"{'med':>5} " + " ".join(f"{med[k]:>8.1f}" for k in FIELDS))
    print(summary(med, all_runs))


if __name__ == "__main__":
    main()
