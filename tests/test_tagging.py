import json

import pytest

from tagger.batch import tag_stream
from tagger.corpora import load_corpus
from tagger.settings import TrainConfig
from tagger.tagging import Tagger
from tagger.training import train

from .conftest import DEMO


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


def test_batched_tagging_equals_one_sentence_at_a_time(demo_tagger: Tagger):
    sentences = [w for w, _ in load_corpus(str(DEMO)).split("validation")[:120]]
    sentences.append(["x"] * 700)  # a long outlier alone in its batch
    batched = demo_tagger.tag_tokens(sentences)
    alone = [demo_tagger.tag_tokens([s])[0] for s in sentences]
    assert batched == alone


def test_compiled_functions_trace_once_whatever_the_shapes(demo_model):
    tagger = Tagger.load(demo_model)  # a fresh one: no traces yet
    for n in (1, 5, 40):
        tagger.tag_tokens([["Oslo"] * (3 * i + 1) for i in range(n)])
        tagger.tag(["Mei Lin met Jonas Weber in Oslo ."] * (n * 10))
    assert tagger._forward.experimental_get_tracing_count() == 1
    assert tagger._featurize.experimental_get_tracing_count() == 1
    assert tagger._tokenize.experimental_get_tracing_count() == 1


def test_stream_keeps_order_and_one_record_per_line(demo_tagger: Tagger, monkeypatch):
    monkeypatch.setattr("tagger.batch.CHUNK_LINES", 3)  # several chunks
    lines = ["Mei Lin met Jonas Weber.", "", "   ", "Prices rose.", "Oslo", "", "Go."]
    records = list(tag_stream(demo_tagger, lines, pretokenized=False))
    assert [r.text for r in records] == lines
    assert [r.tokens for r in records][1:3] == [[], []]
    assert records[0].to_dict() == json.loads(json.dumps(records[0].to_dict()))


@pytest.mark.parametrize("pretokenized", [False, True])
def test_streamed_chunks_tag_like_each_line_alone(demo_tagger: Tagger, monkeypatch,
                                                  pretokenized):
    """The pipelined stream (a worker thread, chunks in flight, compiled tokenizing) changes
    no tag or order: tagged alone, each line is tokenized eagerly."""
    monkeypatch.setattr("tagger.batch.CHUNK_LINES", 7)
    monkeypatch.setattr("tagger.tagging.EAGER_TEXTS", 3)
    sentences = [w for w, _ in load_corpus(str(DEMO)).split("validation")[:60]]
    items = sentences if pretokenized else [" ".join(s) for s in sentences]
    streamed = list(tag_stream(demo_tagger, items, pretokenized=pretokenized))
    alone = [(demo_tagger.tag_conll_sentences([i]) if pretokenized else demo_tagger.tag([i]))[0]
             for i in items]
    assert [r.to_dict() for r in streamed] == [r.to_dict() for r in alone]


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
    assert demo_tagger.model.crf is not None and demo_tagger.config.crf


def _valid_iob2(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous not in (f"B-{tag[2:]}", tag):
            return False
        previous = tag
    return True


def test_softmax_ner_model_decodes_only_valid_iob2(tmp_path):
    """An undertrained softmax model would emit stray I- tags; constrained decoding won't."""
    corpus = load_corpus(str(DEMO))
    corpus.splits = {k: v[:100] for k, v in corpus.splits.items()}
    trained, _ = train(corpus, TrainConfig.from_flat(epochs=1, units=8, embedding_dim=8,
                                                     head="softmax"))
    trained.save(tmp_path / "m")
    tagger = Tagger.load(tmp_path / "m")
    assert tagger.model.crf is None and not tagger.config.crf
    sentences = [w for w, _ in load_corpus(str(DEMO)).split("validation")]
    assert all(_valid_iob2(tags) for tags in tagger.tag_tokens(sentences))
