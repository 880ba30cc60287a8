#!/usr/bin/python3
"""stats.py - hours of a corpus made by corpus.sh, per voice, per text source, per augmentation.

Reads OUT/plan/jobs.tsv and OUT/done.log (only finished files count). Prints a Markdown table.
Usage: stats.py [--out DIR]
"""
import argparse
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.environ.get("ASRD_DATA", "data"), "corpus"))
    args = ap.parse_args()
    dur = {}
    with open(os.path.join(args.out, "done.log"), encoding="utf-8") as f:
        for line in f:
            rel, _, d = line.rstrip("\n").partition("\t")
            dur[rel] = float(d)
    src_of = {}
    with open(os.path.join(args.out, "text", "train.tsv"), encoding="ascii") as f:
        for line in f:
            src, _, text = line.rstrip("\n").split("\t")
            src_of[text] = src.split(":")[0]
    by_voice, by_text, by_aug, files = {}, {}, {}, {}
    with open(os.path.join(args.out, "plan", "jobs.tsv"), encoding="utf-8") as f:
        for line in f:
            _id, man, rel, engine, voice, _p, aug, _src, text = line.rstrip("\n").split("\t")
            if rel not in dur:
                continue
            d = dur[rel] / 3600
            if engine == "espeak":
                key = "espeak-ng (%s)" % ("all accents and variants")
            elif engine == "real":
                key = "real-aug " + voice
            else:
                key = "%s %s" % (engine, voice)
            by_voice[key] = by_voice.get(key, 0) + d
            files[key] = files.get(key, 0) + 1
            if engine != "real":
                t = src_of.get(text, "?")
                by_text[t] = by_text.get(t, 0) + d
            keys = [kv.split("=")[0] for kv in aug.split(";") if "=" in kv and not kv.startswith("gain")]
            for k in keys or ["(none)"]:
                by_aug[(man, k)] = by_aug.get((man, k), 0) + d
    print("| voice / source | files | hours |\n|---|---|---|")
    for k in sorted(by_voice, key=lambda k: -by_voice[k]):
        print("| %s | %d | %.2f |" % (k, files[k], by_voice[k]))
    print("| **total** | %d | %.2f |" % (sum(files.values()), sum(by_voice.values())))
    print("\n| text source (synthetic) | hours |\n|---|---|")
    for k in sorted(by_text, key=lambda k: -by_text[k]):
        print("| %s | %.2f |" % (k, by_text[k]))
    print("\n| manifest | augmentation | hours with it |\n|---|---|---|")
    for k in sorted(by_aug):
        print("| %s | %s | %.2f |" % (k[0], k[1], by_aug[k]))


if __name__ == "__main__":
    main()
