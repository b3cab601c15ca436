"""How often the tokenizer's rules split raw text as a treebank does.

Reads a CoNLL-U file's `# text` lines, tokenizes them (`tagger.text.tokenizer.split`) and
compares with the treebank's surface tokens by their characters, as `tagger evaluate
--raw-text` does (`tagger.raw_scoring`). Prints the share of sentences tokenized exactly
alike and token precision / recall / F1.

    python scripts/tokenizer_agreement.py ../shared/data/raw/ud_en_ewt/en_ewt-ud-dev.conllu
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from tagger.raw_scoring import read_conllu, score
from tagger.text.tokenizer import split


def main() -> None:
    for path in map(Path, sys.argv[1:] or ["-"]):
        gold = read_conllu(path)
        system = []
        for sentence in gold:
            offsets = [list(span) for span in split(sentence.text)]
            tokens = [sentence.text[s:e] for s, e in offsets]
            system.append(SimpleNamespace(offsets=offsets, tokens=tokens,
                                          tags=[""] * len(tokens)))
        exact = sum([tuple(o) for o in s.offsets] == g.tokens for s, g in zip(
            system, gold, strict=True))
        tokens = score(gold, system)["tokens"]
        print(f"{path.name}: {exact / len(gold):.1%} of {len(gold):,} sentences tokenized "
              f"exactly as the treebank; tokens precision {tokens['precision']:.2%}, recall "
              f"{tokens['recall']:.2%}, F1 {tokens['f1']:.2%}")


if __name__ == "__main__":
    main()
