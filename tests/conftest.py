"""Shared fixtures: small corpora written by the tests, and one small trained model."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"
SHARED = ROOT.parent / "shared" / "data"

# IOB1, as in the original CoNLL-2003 files: entities start with I- unless they follow an
# entity of the same type.
IOB1_TRAIN = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

In IN I-PP O
Paris NNP I-NP I-LOC
Lyon NNP I-NP B-LOC
. . O O
"""

CONLLU = """# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = 2
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
2\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_

"""


@pytest.fixture
def iob1_file(tmp_path: Path) -> Path:
    path = tmp_path / "eng.train"
    path.write_text(IOB1_TRAIN, encoding="utf-8")
    return path


@pytest.fixture
def conllu_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-ud-dev.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained briefly on the shipped demo corpus (a few seconds)."""
    from tagger.corpora import load_corpus
    from tagger.settings import TrainConfig
    from tagger.training import train

    output = tmp_path_factory.mktemp("models") / "demo"
    config = TrainConfig.from_flat(epochs=8, units=32, embedding_dim=32, batch_size=16,
                                   learning_rate=0.01, seed=3)
    tagger, _ = train(load_corpus(str(DEMO)), config)
    tagger.save(output)
    return output


@pytest.fixture(scope="session")
def demo_tagger(demo_model: Path):
    from tagger.pipeline import Tagger

    return Tagger.load(demo_model, "keras")


@pytest.fixture(scope="session")
def pos_tagger():
    """A small softmax POS model on part of EWT train (token-scheme tags, no spans), with
    a tokenizer learned from the same part (the rules do not agree with EWT)."""
    from tagger.corpora import load_corpus
    from tagger.settings import TrainConfig
    from tagger.training import train

    corpus = load_corpus(str(SHARED / "ud_en_ewt"), tag_column="upos")
    corpus.splits = {name: rows[:400] for name, rows in corpus.splits.items()}
    corpus.surfaces = {name: rows[:400] for name, rows in corpus.surfaces.items()}
    trained, _ = train(corpus, TrainConfig.from_flat(epochs=1, units=16, embedding_dim=16,
                                                     char_filters=16, head="softmax"))
    return trained


@pytest.fixture(scope="session")
def heads_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small four-head model (UPOS, XPOS, features, lemmas) on part of EWT train, saved;
    its feats and lemma heads (more labels than 64) projected, its XPOS head not."""
    from tagger.corpora import load_corpus
    from tagger.settings import TrainConfig
    from tagger.training import train

    corpus = load_corpus(str(SHARED / "ud_en_ewt"), tag_column="upos",
                         columns=("xpos", "feats", "lemmas"))
    corpus.splits = {name: rows[:400] for name, rows in corpus.splits.items()}
    corpus.surfaces = {name: rows[:400] for name, rows in corpus.surfaces.items()}
    corpus.more = {column: {name: rows[:400] for name, rows in splits.items()}
                   for column, splits in corpus.more.items()}
    trained, _ = train(corpus, TrainConfig.from_flat(epochs=2, units=16, embedding_dim=16,
                                                     char_filters=16, head_projection=64))
    folder = tmp_path_factory.mktemp("models") / "heads"
    trained.save(folder)
    return folder


@pytest.fixture(scope="session")
def pos_model(pos_tagger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pos_tagger` saved as a model folder."""
    folder = tmp_path_factory.mktemp("models") / "pos"
    pos_tagger.save(folder)
    return folder
