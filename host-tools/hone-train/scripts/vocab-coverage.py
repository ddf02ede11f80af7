#!/usr/bin/env python3
"""Vocabulary coverage of prompts: the share of words that are one vocabulary token, and the
mean WordPiece pieces per word (greedy longest-match-first, as BERT's WordPiece), on the
CLINC150 test prompts, its `home` domain's test prompts (held out of the vocabulary) and the
team-written held-out domains (tests/data/heldout-intents).

  vocab-coverage.py CLINC_DIR TOKENIZER.json...        # vocabularies of checkpoints
  vocab-coverage.py CLINC_DIR --simulate TEACHER_TOKENIZER.json SIZE
      # vocabularies pruned by hone-train's rule (top-frequency teacher tokens + Latin single
      # characters) from two corpora: wiki + the 9 domains' train prompts + oos_train (the
      # recipe), and wiki alone (a CLINC-free vocabulary)
Standard library only. Run from the repository root.
"""
import collections
import json
import re
import sys
import unicodedata


def norm(s):
    s = unicodedata.normalize("NFD", s.lower())
    return "".join(c for c in s if unicodedata.category(c) != "Mn")


def words(s):
    return re.findall(r"\w+|[^\w\s]", norm(s))


def wordpiece(w, vocab):
    out, i = [], 0
    while i < len(w):
        j = len(w)
        while j > i:
            piece = w[i:j] if i == 0 else "##" + w[i:j]
            if piece in vocab:
                break
            j -= 1
        if j == i:
            return ["[UNK]"]
        out.append(piece)
        i = j
    return out


def coverage(vocab, texts):
    pieces = [wordpiece(w, vocab) for t in texts for w in words(t)]
    whole = sum(len(p) == 1 and p[0] != "[UNK]" for p in pieces) / len(pieces)
    return whole, sum(map(len, pieces)) / len(pieces)


def prune(full, counts, size):
    def bare(t):
        return t[2:] if t.startswith("##") else t
    keep = {t for t in full if len(bare(t)) == 1 and ord(bare(t)) < 0x250}
    ranked = [t for t, _ in counts.most_common() if t not in keep and not t.startswith("[")]
    return set(ranked[: size - 4 - len(keep)]) | keep


def main():
    clinc_dir = sys.argv[1]
    clinc = json.load(open(f"{clinc_dir}/data_full.json"))
    home = set(json.load(open(f"{clinc_dir}/domains.json"))["home"])
    heldout = json.load(open("tests/data/heldout-intents/data_full.json"))
    sets = {
        "CLINC150 test": [p for p, _ in clinc["test"]],
        "home test": [p for p, l in clinc["test"] if l in home],
        "held-out test": [p for p, _ in heldout["test"]],
    }
    vocabs = {}
    if sys.argv[2] == "--simulate":
        full = json.load(open(sys.argv[3]))["model"]["vocab"]
        size = int(sys.argv[4])
        wiki = open(f"{clinc_dir}/all_wiki_sents.txt").read().splitlines()
        prompts = [p for p, l in clinc["train"] if l not in home]
        prompts += [p for p, _ in clinc.get("oos_train", [])]

        def count(texts):
            c = collections.Counter()
            for t in texts:
                for w in words(t):
                    c.update(wordpiece(w, full))
            return c
        cw, cp = count(wiki), count(prompts)
        vocabs[f"pruned to {size} from wiki + prompts"] = prune(full, cw + cp, size)
        vocabs[f"pruned to {size} from wiki only"] = prune(full, cw, size)
    else:
        for path in sys.argv[2:]:
            vocabs[path] = set(json.load(open(path))["model"]["vocab"])
    for name, vocab in vocabs.items():
        cells = "  ".join(
            "%s %.3f (%.3f pieces/word)" % ((k,) + coverage(vocab, t)) for k, t in sets.items()
        )
        print(f"{name}: whole-word share  {cells}")


if __name__ == "__main__":
    main()
