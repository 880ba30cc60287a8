#!/usr/bin/python3
"""textpool.py - the sentence pool of the synthetic corpus.

Reads general English text shipped by Debian packages (fortunes, WordNet examples, the Jargon File,
the US founding documents of miscfiles), splits it into sentences and keeps only those whose spoken
form is unambiguous: 3-25 words, ASCII letters and plain punctuation only, no digits, no
abbreviations, no acronyms or single letters (a TTS engine would spell them), every word with a
vowel. Drops any sentence that shares a 6-word run with the cathy transcripts (CMU ARCTIC prompts,
reserved: never train on a corpus's prompt list) and de-duplicates on the normalised text.

Writes two TSV files, `source<TAB>speak<TAB>text`, where speak is what the TTS engine reads (original
wording, simple punctuation kept for prosody) and text is the transcript in the model alphabet
(lowercase a-z, apostrophe, single spaces):
  OUT/train.tsv    the training pool, in a seeded random order
  OUT/heldout.tsv  a seeded, fixed subset (--heldout, default 300) never used for training
Deterministic given --seed and the installed packages.

Usage: textpool.py --out DIR [--seed N] [--heldout N] [--cathy GLOB]
"""
import argparse
import glob
import gzip
import os
import random
import re
import sys

FORTUNE_DIR = "/usr/share/games/fortunes"
# Not prose: pictures, program code, other languages.
FORTUNE_SKIP = {"ascii-art", "perl", "translate-me"}
WORDNET = ["/usr/share/wordnet/data.noun", "/usr/share/wordnet/data.verb",
           "/usr/share/wordnet/data.adj", "/usr/share/wordnet/data.adv"]
JARGON = "/usr/share/doc/jargon-text/jargon.txt.gz"
STATE = ["/usr/share/state/us-constitution.gz", "/usr/share/state/us-declaration.gz"]

MIN_WORDS, MAX_WORDS = 3, 25

# Typographic punctuation mapped to ASCII before the ASCII-only test, so that curly quotes
# alone do not reject a sentence.
TYPO = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": " -- ",
        "\u2013": " -- ", "\u2026": "...", "\u00a0": " "}

ABBREV = re.compile(r"\b(mr|mrs|ms|dr|st|jr|sr|vs|etc|eg|ie|inc|ltd|co|corp|no|vol|ch|p|pp|"
                    r"ft|mt|gen|gov|sen|rep|rev|prof|capt|col|lt|sgt|ave|blvd|dept|est|fig|"
                    r"approx|min|max|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.",
                    re.IGNORECASE)
# Characters that a TTS engine reads aloud or that make the transcript ambiguous.
BAD_CHARS = re.compile(r"[0-9@#$%&*+=<>/\\|_~^`\[\]{}]")
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
SPLIT = re.compile(r"(?<=[.!?])[\"')]*\s+(?=[\"'(]*[A-Z])")


def fortune_texts():
    """Each fortune (a '%'-separated record) as one paragraph, attributions dropped."""
    for name in sorted(os.listdir(FORTUNE_DIR)):
        path = os.path.join(FORTUNE_DIR, name)
        if "." in name or name in FORTUNE_SKIP or not os.path.isfile(path):
            continue
        with open(path, encoding="latin-1") as f:
            record = []
            for line in f:
                if line.strip() == "%":
                    yield "fortunes:" + name, record
                    record = []
                elif not re.match(r"^\s*(--|\u2014)", line):
                    record.append(line)
            yield "fortunes:" + name, record


def paragraphs(lines):
    """Join wrapped lines into paragraphs at blank or indented lines."""
    para = []
    for line in lines:
        if not line.strip() or re.match(r"^\s{4,}|^\t", line) and para:
            if para:
                yield " ".join(para)
            para = [line.strip()] if line.strip() else []
        else:
            para.append(line.strip())
    if para:
        yield " ".join(para)


def wordnet_texts():
    """Example sentences: the double-quoted parts of each synset's gloss."""
    for path in WORDNET:
        with open(path, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):  # licence header
                    continue
                gloss = line.partition("|")[2]
                for ex in re.findall(r'"([^"]+)"', gloss):
                    yield "wordnet", [ex]


def jargon_texts():
    """Prose paragraphs of the Jargon File (entry headers and cross-reference braces removed)."""
    with gzip.open(JARGON, "rt", encoding="utf-8") as f:
        # Body text is indented by 3 spaces; deeper indents are continuation lines.
        lines = [re.sub(r"[{}]", "", l[3:] if l.startswith("   ") else l)
                 for l in f if not re.match(r"^\s*:.*:", l)]
    for p in paragraphs(lines):
        yield "jargon", [p]


def state_texts():
    for path in STATE:
        with gzip.open(path, "rt", encoding="latin-1") as f:
            for p in paragraphs(f.readlines()):
                yield "miscfiles:" + os.path.basename(path)[:-3], [p]


def normalise(s):
    """Transcript in the model alphabet; s is already filtered, so this is unambiguous."""
    s = s.lower().replace("-", " ")
    words = re.findall(r"[a-z]+(?:'[a-z]+)*", s)
    return " ".join(words)


def clean_speak(s):
    """Text for the TTS engine: letters, spaces and , . ? ! ; : ' - only."""
    s = s.replace("--", ", ").replace('"', " ").replace("(", ", ").replace(")", ", ")
    s = re.sub(r"(?<![A-Za-z])'|'(?![A-Za-z])", " ", s)  # quote marks, not apostrophes
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"\s+([,.?!;:])", r"\1", s)
    s = re.sub(r"[,;:.?!]{2,}", _collapse, s.replace(" ,", ",").replace(" .", "."))
    s = re.sub(r"^[,;:.\s]+", "", s)
    return s


def _collapse(m):
    """A run of punctuation ('...,.', '?,') becomes its strongest mark."""
    run = m.group(0)
    ends = [c for c in run if c in ".?!"]
    return ends[-1] if ends else run[0]


def acceptable(sent):
    """Return the speak text if the sentence has one unambiguous spoken form, else None."""
    if BAD_CHARS.search(sent) or ABBREV.search(sent):
        return None
    if not all(32 <= ord(c) < 127 for c in sent):
        return None
    if re.search(r"\b[A-Za-z]\.", sent) or re.search(r"\.\s*[a-z]", sent):  # initials, "e.g"
        return None
    if re.search(r"[A-Za-z]-(?![A-Za-z])|(?<![A-Za-z-])-[A-Za-z]", sent):  # dangling hyphens
        return None
    speak = clean_speak(sent)
    if re.search(r"[^A-Za-z ,.?!;:'-]", speak) or re.search(r"(?<![A-Za-z])-|-(?![A-Za-z])", speak):
        return None
    speak = speak.rstrip(", ")
    if not speak or speak.endswith(":") or speak.endswith(";"):
        return None  # a heading or a fragment
    words = WORD.findall(speak)
    if not MIN_WORDS <= len(re.findall(r"[A-Za-z]+", speak.replace("-", " "))) <= MAX_WORDS:
        return None
    for w in words:
        bare = w.replace("'", "")
        if len(bare) == 1 and w not in ("a", "A", "I"):
            return None  # single letters are spelled
        if len(bare) > 1 and bare.isupper():
            return None  # acronyms, roman numerals, shouting: pronunciation varies
        if re.search(r"[a-z][A-Z]", bare):
            return None  # camelCase, McX: engines disagree
        if not re.search(r"[aeiouyAEIOUY]", bare):
            return None  # "hmm", "brr": spelled by some engines
    if not speak[-1] in ".?!":
        speak += "."
    return speak


def sentences(paras):
    for p in paras:
        p = "".join(TYPO.get(c, c) for c in p)
        p = re.sub(r"\s+", " ", p).strip()
        for s in SPLIT.split(p):
            yield s.strip()


def shingles(words, n=6):
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heldout", type=int, default=300)
    ap.add_argument("--cathy", default=os.path.join(os.path.dirname(__file__),
                                                    "../../../shared/corpus/cathy/*.tsv"))
    args = ap.parse_args()

    reserved, reserved_sh = set(), set()
    tsvs = sorted(glob.glob(args.cathy))
    if not tsvs:
        sys.exit("textpool.py: no reserved transcripts match %s" % args.cathy)
    for path in tsvs:
        with open(path, encoding="utf-8") as f:
            for line in f:
                text = line.rstrip("\n").partition("\t")[2]
                n = normalise(text)
                reserved.add(n)
                reserved_sh |= shingles(n.split())

    seen, pool, stats = set(), [], {}
    gens = [fortune_texts(), wordnet_texts(), jargon_texts(), state_texts()]
    for gen in gens:
        for source, lines in gen:
            paras = paragraphs(lines) if source.startswith("fortunes") else lines
            for s in sentences(paras):
                speak = acceptable(s)
                if speak is None:
                    continue
                text = normalise(speak)
                words = text.split()
                if text in seen or text in reserved or shingles(words) & reserved_sh:
                    continue
                seen.add(text)
                pool.append((source, speak, text))
                stats[source.split(":")[0]] = stats.get(source.split(":")[0], 0) + 1

    rng = random.Random(args.seed)
    rng.shuffle(pool)
    held, train = pool[:args.heldout], pool[args.heldout:]
    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("heldout.tsv", held), ("train.tsv", train)):
        tmp = os.path.join(args.out, name + ".tmp")
        with open(tmp, "w", encoding="ascii") as f:
            for row in rows:
                f.write("\t".join(row) + "\n")
        os.replace(tmp, os.path.join(args.out, name))
    print("textpool: %d sentences (%s), %d held out" % (
        len(pool), ", ".join("%s %d" % kv for kv in sorted(stats.items())), len(held)),
        file=sys.stderr)


if __name__ == "__main__":
    main()
