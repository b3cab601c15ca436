"""Properties that hold for any input, checked on generated text (Hypothesis).

Any Unicode: control characters, NUL, combining marks, emoji, right-to-left scripts, lone
carriage returns, line separators and very long lines.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import regex
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tagger import schemes
from tagger.apps import batch
from tagger.heads.tags import TagHead
from tagger.model_folder import HeadConfig
from tagger.pipeline import Tagger
from tagger.records import Records, Scored
from tagger.text import tokenizer

from .helpers import assert_same_records

# Characters a test must see often, whatever Hypothesis draws from all of Unicode.
HARD = ["\x00", "\t", "\r", "\x0b", "\x1f", "\x85", "\u00a0", "\u2028", "\u200b", "\u200f",
        "\u0301", "\u05d0", "\u0627", "\U0001f642", "\U0001f468\u200d\U0001f469", "\ufeff",
        "e\u0301", " ", ".", "Berlin", "Anna", "-", "'", "n't", "\n"]
CHARACTER = st.characters(codec="utf-8")  # every code point UTF-8 can carry: no surrogates
PIECE = st.one_of(st.sampled_from(HARD), st.text(CHARACTER, min_size=1, max_size=6))
TEXT = st.lists(PIECE, max_size=30).map("".join)
LINE = TEXT.map(lambda t: t.replace("\n", " "))  # one line: anything but its end
# Long lines: thousands of characters (the LSTM's time grows with their tokens).
LONG_LINE = st.tuples(LINE, st.integers(30, 300)).map(lambda p: (p[0] + " Oslo")[:40] * p[1])
TOKEN = st.text(CHARACTER, min_size=1, max_size=12)

CHECKS = settings(max_examples=30, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])


def _check_offsets(tagged) -> None:
    text = tagged.text
    assert len(tagged.tokens) == len(tagged.tags) == len(tagged.offsets)
    previous_end = 0
    for token, (start, end) in zip(tagged.tokens, tagged.offsets, strict=True):
        assert text[start:end] == token and token
        assert previous_end <= start < end  # in order, never overlapping
        previous_end = end
    for span in tagged.spans:
        assert text[span.start:span.end] == span.text


@CHECKS
@given(texts=st.lists(st.one_of(TEXT, LONG_LINE), min_size=1, max_size=4))
def test_token_and_span_offsets_slice_the_input(demo_tagger: Tagger, texts):
    for tagged in demo_tagger.tag(texts):
        _check_offsets(tagged)
    assert [t.text for t in demo_tagger.tag(texts)] == texts


@CHECKS
@given(lines=st.lists(LINE.filter(lambda t: not t.endswith("\r")), min_size=1, max_size=25),
       crlf=st.booleans())
def test_one_record_per_input_line(demo_tagger: Tagger, tmp_path: Path, lines, crlf):
    """Lines end at "\n" or "\r\n"; a "\r" anywhere else is text. (A line that ends in "\r"
    is indistinguishable from a CRLF line end, so none is generated; nor a first line that
    starts with U+FEFF, which is the file's byte-order mark and dropped.)"""
    assume(not lines[0].startswith("\ufeff"))
    source = tmp_path / "in.txt"
    source.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + b"\n")
    out = tmp_path / "out.jsonl"
    written = batch.tag_file(demo_tagger, batch.open_input(str(source), None), str(out), "json",
                             quiet=True)
    records = [json.loads(r) for r in out.read_text(encoding="utf-8").split("\n")[:-1]]
    assert written == len(records) == len(lines)
    assert [r["text"] for r in records] == lines


@CHECKS
@given(sentences=st.lists(st.lists(TOKEN, max_size=40), min_size=1, max_size=40))
def test_bucketed_batches_tag_like_each_sentence_alone(demo_tagger: Tagger, sentences):
    batched = demo_tagger.tag_tokens(sentences)
    assert batched == [demo_tagger.tag_tokens([s])[0] for s in sentences]
    assert [len(t) for t in batched] == [len(s) for s in sentences]


@settings(CHECKS, max_examples=10)  # each example tags its texts one by one
@given(texts=st.lists(LINE, min_size=17, max_size=24))
def test_texts_tagged_together_tag_like_each_text_alone(demo_tagger: Tagger, texts):
    together = [t.to_dict() for t in demo_tagger.tag(texts)]
    assert_same_records(together, [demo_tagger.tag([t])[0].to_dict() for t in texts])


@pytest.fixture(scope="module")
def reloaded(demo_tagger: Tagger, tmp_path_factory: pytest.TempPathFactory) -> Tagger:
    folder = tmp_path_factory.mktemp("saved") / "model"
    demo_tagger.save(folder)
    return Tagger.load(folder, "keras")


@CHECKS
@given(texts=st.lists(TEXT, min_size=1, max_size=8),
       sentences=st.lists(st.lists(TOKEN, max_size=20), max_size=8))
def test_save_then_load_tags_identically(demo_tagger: Tagger, reloaded: Tagger, texts,
                                         sentences):
    assert [t.to_dict() for t in reloaded.tag(texts)] == \
        [t.to_dict() for t in demo_tagger.tag(texts)]
    assert reloaded.tag_tokens(sentences) == demo_tagger.tag_tokens(sentences)


_IOB2_TAG = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])


@given(st.lists(_IOB2_TAG, max_size=30))
def test_iobes_keeps_the_entities_of_any_iob2_sentence(tags):
    """Training in IOBES and mapping tags back loses no entity and changes no valid tag."""
    iob2 = schemes.iob1_to_iob2(tags)  # a valid IOB2 sentence: no stray I- tags
    iobes = schemes.iob2_to_iobes(iob2)
    assert schemes.spans(iobes) == schemes.spans(iob2)
    assert [schemes.iobes_to_iob2(t) for t in iobes] == iob2


_ANY_TAG = st.sampled_from(["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC",
                            "E-LOC", "S-LOC", "L-MISC", "NOUN"])


@given(st.lists(st.lists(st.tuples(_ANY_TAG, st.floats(0, 1, width=32)), max_size=12),
                max_size=6),
       st.floats(0, 1))
def test_records_read_the_spans_schemes_reads_from_any_tags(texts, min_confidence):
    """Records find every text's spans at once on arrays; they must be `schemes.spans`'s,
    stray and mixed tags included, each with its lowest confidence."""
    labels = list(_ANY_TAG.elements)
    head = TagHead(HeadConfig("tags", "tags", labels, schemes.IOBES))
    records = Records(SimpleNamespace(scheme=schemes.IOBES, calibration=None), [head])
    sentences = [[f"w{i}" for i in range(len(text))] for text in texts]
    predicted = Scored([np.array([labels.index(t) for t, _ in text], np.int32)
                        for text in texts],
                       [np.array([c for _, c in text], np.float32) for text in texts])
    tagged = [t.above(min_confidence) for t in records.of_tokens(sentences, predicted)]
    for record, text in zip(tagged, texts, strict=True):
        tags = [t for t, _ in text]
        assert record.tags == tags
        _check_offsets(record)
        expected = []
        for span in schemes.spans(tags):
            confidence = float(np.float32(min(c for _, c in text[span.start:span.end])))
            if confidence >= min_confidence:
                expected.append((span.label, record.offsets[span.start][0],
                                 record.offsets[span.end - 1][1], confidence))
        assert [(s.label, s.start, s.end, s.confidence) for s in record.spans] == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, max_size=12))
def test_texts_split_together_split_as_each_alone(texts):
    """`split_texts` finds every text's tokens in one pass over the texts joined by
    newlines: no token may cross from one text into the next, newlines in texts included."""
    tokens, starts, ends, splits = tokenizer.split_texts(texts)
    assert len(tokens) == len(texts) and splits[-1] == len(starts) == len(ends)
    for i, text in enumerate(texts):
        alone = tokenizer.split(text)
        together = list(zip(starts[splits[i]:splits[i + 1]].tolist(),
                            ends[splits[i]:splits[i + 1]].tolist(), strict=True))
        assert together == alone
        assert tokens[i] == [text[s:e] for s, e in alone]


_INVISIBLE = regex.compile(r"[\p{Z}\p{Cc}\p{Cf}]")
# Format characters a token may hold: between two letters, marks or digits ("a\u200db"), or
# inside a symbol's cluster (the joiner and tag characters of emoji sequences).
_HELD_FORMAT = regex.compile(r"(?<=[\p{L}\p{M}\p{N}_])\p{Cf}+(?=[\p{L}\p{M}\p{N}_])"
                             r"|(?<=\S)[\u200d\U000E0020-\U000E007F]")


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_spaces_controls_and_invisible_characters_are_never_tokens(text):
    """Every Unicode space and control character separates tokens and is never in one; an
    invisible format character is in a token only where a word or an emoji holds it."""
    for start, end in tokenizer.split(text):
        token = text[start:end]
        assert not regex.fullmatch(r"[\p{Z}\p{Cc}\p{Cf}]+", token), repr(token)
        assert not regex.search(r"[\p{Z}\p{Cc}]", token), repr(token)
        assert not _INVISIBLE.search(_HELD_FORMAT.sub("", token)), repr(token)


# Grapheme clusters of several kinds: letters with combining marks, a conjunct, emoji with
# skin tones, joiners, keycaps, variation selectors and tag sequences, flags.
CLUSTERS = ["a", "Z", "5", ".", "-", "'", "e\u0301", "\u0915\u094d\u0937", "\u0e01",
            "\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "1\ufe0f\u20e3", "#\ufe0f\u20e3", "\u2764\ufe0f", "\U0001f1e9\U0001f1ea",
            "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]
SEPARATORS = [" ", "\u00a0", "\u2003", "\u2028", "\t", "\u200e", "\ufeff", "\x07"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(CLUSTERS), st.sampled_from(SEPARATORS)),
                max_size=25).map("".join))
def test_grapheme_clusters_stay_whole(text):
    """A token starts and ends only where a grapheme cluster does (Unicode's extended
    clusters, as the `regex` module finds them)."""
    boundaries = {0, *(m.end() for m in regex.finditer(r"\X", text))}
    for start, end in tokenizer.split(text):
        assert start in boundaries and end in boundaries, (text, text[start:end])
