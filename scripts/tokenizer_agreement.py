"""How often the tokenizer splits raw text the way a treebank does.

Reads a CoNLL-U file's `# text` lines, tokenizes them with tagger's tokenizer and compares
with the treebank's tokens (its syntactic words: `don't` -> `do` `n't`). Prints the share
of sentences tokenized exactly alike and token precision / recall / F1 over character spans.

    python scripts/tokenizer_agreement.py ../shared/data/raw/ud_en_ewt/en_ewt-ud-dev.conllu
"""

from __future__ import annotations

import sys
from pathlib import Path

from tagger import conll
from tagger.text.tokenizer import char_offsets, tokenize


def gold_sentences(path: Path) -> list[tuple[str, list[str]]]:
    """(text, tokens) pairs from a CoNLL-U file."""
    with conll.open_text(path) as handle:
        lines = list(handle)
    texts = [line[len("# text = "):].rstrip("\n") for line in lines
             if line.startswith("# text = ")]
    sentences = [[row[1] for row in rows] for rows in conll.conllu_sentences(lines, str(path))]
    return list(zip(texts, sentences, strict=True))


def gold_spans(text: str, tokens: list[str]) -> set[tuple[int, int]] | None:
    """Character spans of the gold tokens in the text; None where they do not align."""
    spans, position = set(), 0
    for token in tokens:
        start = text.find(token, position)
        if start < 0:
            return None  # e.g. a multiword token's parts that are not substrings ("gonna")
        spans.add((start, start + len(token)))
        position = start + len(token)
    return spans


def main(path: str) -> None:
    pairs = gold_sentences(Path(path))
    result = tokenize([t for t, _ in pairs])
    exact = aligned = 0
    true_positive = predicted = gold = 0
    for i, (text, tokens) in enumerate(pairs):
        ours = [t.decode("utf-8") for t in result.tokens[i].numpy()]
        exact += ours == tokens
        reference = gold_spans(text, tokens)
        if reference is None:
            continue
        aligned += 1
        starts = char_offsets(text, result.starts[i].numpy())
        ends = char_offsets(text, result.ends[i].numpy())
        mine = set(zip(starts.tolist(), ends.tolist(), strict=True))
        true_positive += len(mine & reference)
        predicted += len(mine)
        gold += len(reference)
    precision, recall = true_positive / predicted, true_positive / gold
    print(f"{path}: {len(pairs)} sentences")
    print(f"exactly the treebank's tokens: {exact / len(pairs) * 100:.1f}% of sentences")
    print(f"token spans ({aligned} sentences whose tokens align with the text): "
          f"precision {precision * 100:.1f}, recall {recall * 100:.1f}, "
          f"F1 {2 * precision * recall / (precision + recall) * 100:.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/tokenizer_agreement.py FILE.conllu")
    main(sys.argv[1])
