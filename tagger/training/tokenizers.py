"""Which tokenizer a new model gets: the rules, or a segmenter learned from its corpus.

Both are scored against the corpus's validation text (its train text where it has no
validation split) the CoNLL 2018 way, as tokens F1; `auto` keeps the rules where they
already agree with the corpus (settings.RULES_AGREE) or do better, so that a language the
rules were written for keeps their speed. A corpus without text of its own (CoNLL files,
tables without a `text` column) has its text rebuilt from its tokens: a segmenter would
learn that rebuilding rather than how the language is written, so there the rules stay
unless they disagree outright (below settings.DISAGREEING: scripts written without
spaces). The scores go into the model's metrics.
"""

from __future__ import annotations

from typing import Any

from tagger import raw_scoring, settings
from tagger.corpora import Corpus
from tagger.documents import EndsOf, rule_ends_of, sentence_spans
from tagger.progress import Progress
from tagger.text import sentences, surface
from tagger.text.segmenter import Segmenter
from tagger.text.sentences import SentenceSplitter
from tagger.text.tokenizer import Rules


def choose(corpus: Corpus, setting: str, seed: int, progress: Progress
           ) -> tuple[Rules | Segmenter, dict[str, Any]]:
    """The tokenizer for a model trained on `corpus` with `setting` (auto, learned or
    rules), and what was measured to choose it."""
    train = corpus.surfaces.get("train", [])
    split = "validation" if corpus.surfaces.get("validation") else "train"
    held_out = corpus.surfaces.get(split, [])
    rules = Rules()
    scores = {"rules": _f1(rules, held_out)}
    measured: dict[str, Any] = {"split": split, "text": "the corpus's" if corpus.has_text
                                else "rebuilt from its tokens", "tokens_f1": scores}
    chosen: Rules | Segmenter = rules
    threshold = settings.RULES_AGREE if corpus.has_text else settings.DISAGREEING
    agree = scores["rules"] is not None and scores["rules"] >= threshold
    if setting == "learned" or (setting == "auto" and train and not agree):
        segmenter = Segmenter.train(train, seed=seed)
        scores["learned"] = _f1(segmenter, held_out)
        if setting == "learned" or (scores["learned"] or 0) > (scores["rules"] or 0):
            chosen = segmenter
    measured["chosen"] = chosen.name
    described = ", ".join(f"{name} {f1:.2f}" for name, f1 in scores.items()
                          if f1 is not None)
    progress.line(f"tokenizer: {chosen.name} (tokens F1 on the {split} split's text, "
                  f"{measured['text']}: {described or 'none to score'})")
    return chosen, measured


def _f1(tokenizer: Rules | Segmenter, sentences: list) -> float | None:
    if not sentences:
        return None
    report = raw_scoring.token_agreement(tokenizer, sentences)
    return round(report["f1"] * 100, 2)


def sentence_splitter(corpus: Corpus, tokenizer: Rules | Segmenter, seed: int,
                      progress: Progress) -> tuple[SentenceSplitter | None, dict[str, Any]]:
    """The sentence splitter learned from the corpus's running text (`text.sentences`),
    or None where the rules (`documents.rule_ends`) find the validation split's sentences
    as well; each one's Sentences F1 there, tokenized by `tokenizer`, as measured."""
    return kept_splitter(corpus, tokenizer, learned_splitter(corpus, seed), progress)


def kept_splitter(corpus: Corpus, tokenizer: Rules | Segmenter,
                  splitter: SentenceSplitter | None, progress: Progress
                  ) -> tuple[SentenceSplitter | None, dict[str, Any]]:
    """`splitter`, or None where the rules do as well on the corpus's validation text
    (`sentence_splitter`), and what was measured."""
    if splitter is None:
        return None, {}
    split = "validation" if corpus.surfaces.get("validation") else "train"
    held_out = surface.paragraphs(corpus.surfaces.get(split, []))
    scores = {"rules": sentences_f1(tokenizer, rule_ends_of, held_out),
              "learned": sentences_f1(tokenizer, splitter.ends_of, held_out)}
    chosen = "learned" if scores["learned"] >= scores["rules"] else "rules"
    progress.line(f"sentences: {chosen} (Sentences F1 on the {split} split's running text: "
                  f"rules {scores['rules']:.2f}, learned {scores['learned']:.2f})")
    return (splitter if chosen == "learned" else None), {
        "split": split, "sentences_f1": scores, "chosen": chosen}


def learned_splitter(corpus: Corpus, seed: int) -> SentenceSplitter | None:
    """The splitter learned from the corpus's train split (None: too little text)."""
    train = sentences.paragraphs(corpus.surfaces.get("train", []))
    if sum(len(p.forms) for p in train) < 2:
        return None
    return SentenceSplitter.train(train, seed=seed)


def sentences_f1(tokenizer: Rules | Segmenter, ends_of: EndsOf,
                 paragraphs: list[surface.Paragraph]) -> float:
    """Sentences F1 (%) of paragraphs' running text tokenized by `tokenizer`, their
    sentences ended where `ends_of` says."""
    texts = [p.surface.text for p in paragraphs]
    found = sentence_spans(texts, tokenizer(texts), ends_of) if texts else []
    right = system = gold = 0
    for paragraph, spans in zip(paragraphs, found, strict=True):
        counts = raw_scoring.sentence_counts(paragraph.sentences, spans)
        right, system, gold = right + counts[0], system + counts[1], gold + counts[2]
    return round(200 * right / (system + gold), 2) if system + gold else 0.0
