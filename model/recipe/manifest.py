#!/usr/bin/python3
"""manifest.py - rewrite OUT/synth.tsv, OUT/real-aug.tsv and OUT/done.log from the plan and the
files present, in plan order. Used before the workers start (after a killed run) and after they
end (so the final manifests are ordered and deterministic).

Durations come from done.log; a file present but missing there (killed between rename and log)
is measured with soxi.

Usage: manifest.py --out DIR
"""
import argparse
import os
import subprocess


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    dur = {}
    log = os.path.join(args.out, "done.log")
    if os.path.exists(log):
        with open(log, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 2:
                    dur[parts[0]] = parts[1]
    outs = {}
    done = []
    with open(os.path.join(args.out, "plan", "jobs.tsv"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            manifest, rel, text = fields[1], fields[2], fields[8]
            outs.setdefault(manifest, [])
            if not os.path.exists(os.path.join(args.out, rel)):
                continue
            if rel not in dur:
                r = subprocess.run(["soxi", "-D", os.path.join(args.out, rel)],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                if r.returncode != 0:  # unreadable: remove, the next run remakes it
                    os.remove(os.path.join(args.out, rel))
                    continue
                dur[rel] = "%.3f" % float(r.stdout)
            outs[manifest].append("%s\t%s\n" % (rel, text))
            done.append("%s\t%s\n" % (rel, dur[rel]))
    for manifest, lines in list(outs.items()) + [("done", None)]:
        path = os.path.join(args.out, manifest + (".log" if lines is None else ".tsv"))
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.writelines(done if lines is None else lines)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
