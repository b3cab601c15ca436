import itertools
import json

import numpy as np
import pytest

from tagger import decoding, settings
from tagger.apps.batch import tag_stream
from tagger.corpora import load_corpus
from tagger.pipeline import Tagger, windows
from tagger.settings import TrainConfig
from tagger.training import train

from .conftest import DEMO
from .helpers import assert_same_records


def test_tag_returns_tokens_tags_offsets_and_spans(demo_tagger: Tagger):
    text = "Anna Schmidt flew from Berlin to Toronto on Monday."
    [tagged] = demo_tagger.tag([text])
    assert tagged.tokens == ["Anna", "Schmidt", "flew", "from", "Berlin", "to", "Toronto",
                             "on", "Monday", "."]
    assert len(tagged.tags) == len(tagged.tokens)
    assert set(tagged.tags) <= set(demo_tagger.labels)
    for token, (start, end) in zip(tagged.tokens, tagged.offsets, strict=True):
        assert text[start:end] == token
    for span in tagged.spans:
        assert text[span.start:span.end] == span.text
    assert {(s.label, s.text) for s in tagged.spans} >= {("PER", "Anna Schmidt"),
                                                         ("LOC", "Berlin")}


def test_windows_cut_after_a_sentence_end_in_their_second_half_or_at_their_size():
    sentences = [["a"] * 10, [], ["b", ".", "c", "d", ".", "e", "f", "g", "h"], ["x"] * 4]
    pieces, owners = windows(sentences, 4)
    assert pieces == [["a"] * 4, ["a"] * 4, ["a"] * 2, [], ["b", ".", "c", "d"],
                      [".", "e", "f", "g"], ["h"], ["x"] * 4]
    assert owners.tolist() == [0, 0, 0, 1, 2, 2, 2, 3]
    assert windows(sentences, 10) == (sentences, None)


def test_a_text_longer_than_the_sequence_limit_is_tagged_in_windows(demo_tagger: Tagger,
                                                                     monkeypatch):
    """Past settings.MAX_SEQUENCE_TOKENS a text is tagged window by window (each as a text of
    its own), so a line's length does not set the network's memory; its record is whole."""
    monkeypatch.setattr(settings, "MAX_SEQUENCE_TOKENS", 12)
    sentence = ["Anna", "Schmidt", "flew", "from", "Berlin", "to", "Toronto", "on",
                "Monday", "."]
    text = " ".join([" ".join(sentence)] * 5)
    [tagged] = demo_tagger.tag([text, "Oslo"])[:1]
    assert len(tagged.tokens) == 50 and len(tagged.tags) == len(tagged.confidences) == 50
    [alone] = demo_tagger.tag_tokens([sentence])
    assert tagged.tags == alone * 5  # cut after each "." (the window's second half)
    assert [(s.label, s.text) for s in tagged.spans][:2] == [
        (s.label, s.text) for s in demo_tagger.tag([" ".join(sentence)])[0].spans][:2]
    monkeypatch.setattr(settings, "MAX_SEQUENCE_TOKENS", 4096)
    assert demo_tagger.tag([text])[0].tokens == tagged.tokens


def test_batched_tagging_equals_one_sentence_at_a_time(demo_tagger: Tagger):
    sentences = [w for w, _ in load_corpus(str(DEMO)).split("validation")[:120]]
    sentences.append(["x"] * 700)  # a long outlier alone in its batch
    batched = demo_tagger.tag_tokens(sentences)
    alone = [demo_tagger.tag_tokens([s])[0] for s in sentences]
    assert batched == alone


def test_stream_keeps_order_and_one_record_per_line(demo_tagger: Tagger, monkeypatch):
    monkeypatch.setattr("tagger.apps.batch.CHUNK_LINES", 3)  # several chunks
    lines = ["Mei Lin met Jonas Weber.", "", "   ", "Prices rose.", "Oslo", "", "Go."]
    records = list(tag_stream(demo_tagger, lines, pretokenized=False))
    assert [r.text for r in records] == lines
    assert [r.tokens for r in records][1:3] == [[], []]
    assert records[0].to_dict() == json.loads(json.dumps(records[0].to_dict()))


@pytest.mark.parametrize("pretokenized", [False, True])
def test_streamed_chunks_tag_like_each_line_alone(demo_tagger: Tagger, monkeypatch,
                                                  pretokenized):
    """The pipelined stream (a worker thread, chunks in flight) changes no tag or order."""
    monkeypatch.setattr("tagger.apps.batch.CHUNK_LINES", 7)
    sentences = [w for w, _ in load_corpus(str(DEMO)).split("validation")[:60]]
    items = sentences if pretokenized else [" ".join(s) for s in sentences]
    streamed = list(tag_stream(demo_tagger, items, pretokenized=pretokenized))
    alone = [(demo_tagger.tag_conll_sentences([i]) if pretokenized else demo_tagger.tag([i]))[0]
             for i in items]
    assert_same_records([r.to_dict() for r in streamed], [r.to_dict() for r in alone])


def test_empty_input_lists(demo_tagger: Tagger):
    assert demo_tagger.tag([]) == []
    assert demo_tagger.tag_tokens([]) == []
    assert demo_tagger.tag([""])[0].tags == []


@pytest.mark.parametrize("tokens", [["Oslo"], ["Acme", "Corp", "said", "so", "."]])
def test_conll_sentences_get_space_joined_offsets(demo_tagger: Tagger, tokens):
    [tagged] = demo_tagger.tag_conll_sentences([tokens])
    assert tagged.text == " ".join(tokens)
    assert [tagged.text[s:e] for s, e in tagged.offsets] == tokens


def test_default_ner_model_has_a_crf(demo_tagger: Tagger):
    assert demo_tagger.backend.model.crf is not None and demo_tagger.config.crf


def test_crf_confidences_are_marginals_over_every_label_path(demo_tagger: Tagger):
    """End to end: each token's confidence is the total probability of the label paths that
    give it its tag, under the model's own emissions, transitions and scheme constraints."""
    tokens = ["Elena", "visited", "Dublin"]
    [tagged] = demo_tagger.tag_conll_sentences([tokens])
    model = demo_tagger.backend.model
    [emissions] = demo_tagger.scores([tokens])
    allowed, start, end = decoding.constraints(demo_tagger.labels, demo_tagger.scheme)
    transitions = model.crf.transitions.numpy() + allowed
    start, end = model.crf.start.numpy() + start, model.crf.end.numpy() + end
    paths = list(itertools.product(range(len(demo_tagger.labels)), repeat=len(tokens)))
    scores = np.array([start[p[0]] + end[p[-1]] + emissions[range(len(p)), p].sum()
                       + sum(transitions[a, b] for a, b in itertools.pairwise(p))
                       for p in paths])
    weights = np.exp(scores - np.logaddexp.reduce(scores))
    chosen = [demo_tagger.labels.index(tag) for tag in tagged.tags]
    expected = [sum(w for p, w in zip(paths, weights, strict=True) if p[t] == chosen[t])
                for t in range(len(tokens))]
    np.testing.assert_allclose(tagged.confidences, expected, atol=1e-4)


def test_span_confidence_is_its_lowest_token_calibrated_and_min_confidence_drops_spans(
        demo_tagger: Tagger):
    texts = [" ".join(w) for w, _ in load_corpus(str(DEMO)).split("validation")[:40]]
    tagged = demo_tagger.tag(texts)
    calibrated = demo_tagger.config.calibration
    for t in tagged:
        assert len(t.confidences) == len(t.tokens)
        assert all(0.0 < c <= 1.0 for c in t.confidences)
        for span in t.spans:
            inside = [c for (a, b), c in zip(t.offsets, t.confidences, strict=True)
                      if span.start <= a and b <= span.end]
            assert span.confidence == pytest.approx(
                float(calibrated(np.array([min(inside)]))[0]), abs=1e-7)
    levels = sorted({s.confidence for t in tagged for s in t.spans})
    threshold = levels[len(levels) // 2]
    assert levels[0] < threshold  # some spans on each side
    kept = demo_tagger.tag(texts, min_confidence=threshold)
    assert [t.tags for t in kept] == [t.tags for t in tagged]
    assert [t.spans for t in kept] == [
        [s for s in t.spans if s.confidence >= threshold] for t in tagged]


def _valid_iob2(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous not in (f"B-{tag[2:]}", tag):
            return False
        previous = tag
    return True


@pytest.mark.slow
def test_softmax_ner_model_decodes_only_valid_iob2(tmp_path):
    """An undertrained softmax model would emit stray I- tags; constrained decoding won't."""
    corpus = load_corpus(str(DEMO))
    corpus.splits = {k: v[:100] for k, v in corpus.splits.items()}
    trained, _ = train(corpus, TrainConfig.from_flat(epochs=1, units=8, embedding_dim=8,
                                                     head="softmax"))
    trained.save(tmp_path / "m")
    tagger = Tagger.load(tmp_path / "m")
    assert tagger.backend.crfs == [None] and not tagger.config.crf
    sentences = [w for w, _ in load_corpus(str(DEMO)).split("validation")]
    assert all(_valid_iob2(tags) for tags in tagger.tag_tokens(sentences))
    # Confidence: the softmax probability of the tag chosen by constrained decoding.
    [tagged] = tagger.tag_conll_sentences(sentences[:1])
    [probabilities] = tagger.scores(sentences[:1])
    chosen = [tagger.labels.index(tag) for tag in tagged.tags]
    np.testing.assert_allclose(tagged.confidences,
                               probabilities[range(len(chosen)), chosen], rtol=1e-5)
