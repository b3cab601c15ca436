"""The exported SavedModel, loaded in a fresh process that imports only TensorFlow and
tensorflow-text, tags exactly as `Tagger.tag` does: tokens, offsets, tags and spans."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tagger.export import export
from tagger.tagging import Tagger

from .records import assert_same_records
from .texts import EWT_DEV, ODD, conllu_texts

# Runs in a fresh interpreter: reads the SavedModel folder and a JSON request file, writes
# JSON records built from the signature's padded outputs.
CLIENT = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

folder, request, response = sys.argv[1:]
model = tf.saved_model.load(folder)
job = json.load(open(request, encoding="utf-8"))

def records(out, texts):
    out = {k: v.numpy() for k, v in out.items()}
    for i, text in enumerate(texts):
        n, m = out["lengths"][i], out["span_counts"][i]
        offsets = [[int(a), int(b)] for a, b in zip(out["starts"][i][:n], out["ends"][i][:n])]
        starts, ends = out["span_starts"][i], out["span_ends"][i]
        spans = [{"label": out["span_labels"][i][j].decode(), "start": int(starts[j]),
                  "end": int(ends[j]), "text": text[starts[j]:ends[j]],
                  "confidence": round(float(out["span_confidences"][i][j]), 4)} for j in range(m)]
        yield {"text": text, "tokens": [t.decode() for t in out["tokens"][i][:n]],
               "tags": [t.decode() for t in out["tags"][i][:n]], "offsets": offsets,
               "confidences": [round(float(c), 4) for c in out["confidences"][i][:n]],
               "spans": spans}

result = {"texts": [], "sentences": []}
texts = job["texts"]
for i in range(0, len(texts), 64):
    chunk = texts[i:i + 64]
    out = model.signatures["serving_default"](texts=tf.constant(chunk))
    result["texts"] += list(records(out, chunk))
sentences = job["sentences"]
width = max(len(s) for s in sentences)
out = model.signatures["tag_tokens"](
    tokens=tf.constant([s + [""] * (width - len(s)) for s in sentences]),
    lengths=tf.constant([len(s) for s in sentences], tf.int32))
result["sentences"] = list(records(out, [" ".join(s) for s in sentences]))
assert not any(name == "tagger" or name.startswith("tagger.") for name in sys.modules)
json.dump(result, open(response, "w", encoding="utf-8"), ensure_ascii=False)
"""


def dev_sentences(count: int) -> list[list[str]]:
    sentences, tokens = [], []
    for line in EWT_DEV.read_text(encoding="utf-8").splitlines():
        if not line:
            sentences.append(tokens)
            tokens = []
        elif not line.startswith("#") and line.split("\t")[0].isdigit():
            tokens.append(line.split("\t")[1])
    return sentences[:count]


@pytest.mark.parametrize("which", ["entity", "pos"])
def test_exported_model_tags_like_the_tagger_in_a_fresh_process(
        which, demo_tagger: Tagger, pos_tagger: Tagger, tmp_path: Path):
    tagger = demo_tagger if which == "entity" else pos_tagger
    folder = tmp_path / "exported" / "1"
    export(tagger, folder)
    texts, sentences = conllu_texts() + ODD, dev_sentences(50)
    request, response = tmp_path / "request.json", tmp_path / "response.json"
    request.write_text(json.dumps({"texts": texts, "sentences": sentences}), encoding="utf-8")
    subprocess.run([sys.executable, "-c", CLIENT, str(folder), str(request), str(response)],
                   check=True)
    got = json.loads(response.read_text(encoding="utf-8"))
    assert len(got["texts"]) == len(texts) > 2000
    assert_same_records(got["texts"], [t.to_dict() for t in tagger.tag(texts)])
    assert_same_records(got["sentences"],
                        [t.to_dict() for t in tagger.tag_conll_sentences(sentences)])
    spans = sum(len(r["spans"]) for r in got["texts"])
    assert spans > 0 if which == "entity" else spans == 0


def test_export_refuses_an_existing_folder_without_force(demo_tagger: Tagger, tmp_path: Path):
    from tagger.errors import TaggerError

    (tmp_path / "out").mkdir()
    with pytest.raises(TaggerError, match="already exists"):
        export(demo_tagger, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
