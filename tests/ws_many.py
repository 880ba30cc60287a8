#!/usr/bin/python3
"""ws_many.py - many tests/ws_client.py sessions at once from one process (one asyncio loop), for the
scale-out test and benchmark: sixty Python processes would cost more CPU than the daemons under test.

Usage: ws_many.py < LINES
Each line is "OUT ARGS..." (shell-quoted): ARGS are ws_client.py's own (URL, options, file); the
session's output lines (ws_client.py's format) go to the file OUT. All sessions start together.
A session that raised prints {"error": "..."} to its OUT. Exit status 0 once every session ended.
"""
import asyncio
import json
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_client  # noqa: E402


async def one(a, path):
    with open(path, "w") as out:
        try:
            await ws_client.run(a, out)
        except Exception as e:  # a client failure is data for the test, not a crash of the others
            print(json.dumps({"error": type(e).__name__ + ": " + str(e)}), file=out, flush=True)


async def main():
    jobs = []
    for line in sys.stdin:
        if not line.strip():
            continue
        path, *args = shlex.split(line)
        jobs.append(one(ws_client.parser().parse_args(args), path))
    await asyncio.gather(*jobs)


if __name__ == "__main__":
    asyncio.run(main())
