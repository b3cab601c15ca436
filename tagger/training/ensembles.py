"""Ensembles: several trained taggers of one recipe (other seeds) averaged in one model.

    tagger = combine([Tagger.load(f"models/wnut-seed{s}", "keras") for s in (1, 2, 3)])
    tagger.save("models/wnut-ensemble")

The members' outputs are averaged at every step: a softmax head's probabilities, or a CRF's
emission scores with the mean of the members' transition scores (a path's score is then the
mean of its scores under each member). Tagging costs about one member's time per member.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from tagger import schemes
from tagger.backends.keras.backend import KerasBackend
from tagger.backends.keras.network import build_model
from tagger.errors import TaggerError
from tagger.pipeline import Tagger


def combine(members: Sequence[Tagger]) -> Tagger:
    """One tagger averaging `members` (on the keras backend): the same recipe and
    vocabularies, other seeds."""
    if len(members) < 2:
        raise TaggerError("an ensemble needs at least two models")
    first = members[0]
    for i, member in enumerate(members[1:], 2):
        difference = _difference(first, member)
        if difference:
            raise TaggerError(f"model {i} differs from model 1 in its {difference}; an "
                              "ensemble's models come from one recipe with other seeds")
    # The members' calibrations were fitted on their own confidences, not the average's:
    # `score_on_validation` fits the ensemble's.
    config = dataclasses.replace(first.config, members=len(members), calibration=None)
    model = build_model(config)
    networks = [m.backend.model for m in members]
    model.encoder.set_weights([w for n in networks for w in n.encoder.get_weights()])
    if model.crf is not None:
        model.crf.set_weights([np.mean(ws, axis=0) for ws in
                               zip(*(n.crf.get_weights() for n in networks), strict=True)])
    metrics = {"members": [{"seed": m.config.settings.optimization.seed,
                            **{k: v for k, v in (m.metrics or {}).items()
                               if k in ("metric", "validation_score", "best_epoch")}}
                           for m in members]}
    if "tokenizer" in (first.metrics or {}):
        metrics["tokenizer"] = first.metrics["tokenizer"]
    backend = KerasBackend(model, first.backend.checkpoint, config.context_layers)
    return Tagger(config, first.featurizer, backend, metrics, first.tokenizer, first.context,
                  first.sentences)


def _difference(a: Tagger, b: Tagger) -> str:
    """What keeps `a` and `b` from one ensemble, or '' if nothing does."""
    if b.config.members != 1 or a.config.members != 1:
        return "being an ensemble already"
    unseeded = [dataclasses.replace(t.config, settings=t.config.settings.replace(seed=0),
                                    corpus=None, tagger_version="", calibration=None)
                for t in (a, b)]
    if unseeded[0] != unseeded[1]:
        return "labels, network or training settings"
    if a.featurizer.words.words != b.featurizer.words.words:
        return "word vocabulary"
    chars = [t.featurizer.chars.code_points if t.featurizer.chars else None for t in (a, b)]
    if chars[0] != chars[1]:
        return "character vocabulary"
    encoders = [t.backend.checkpoint for t in (a, b)]
    if encoders[0] is not None and (encoders[0].wordpiece.vocab != encoders[1].wordpiece.vocab
                                    or not all(np.array_equal(value, encoders[1].arrays[name])
                                               for name, value in encoders[0].arrays.items())):
        return "contextual encoder"
    return ""


def score_on_validation(tagger: Tagger, calibration: str = "none") -> None:
    """Score `tagger` on the validation split its members were trained with, into its
    metrics; for an entity model, first calibrate its span confidences there by
    `calibration` (a `settings.CALIBRATIONS` method), as training does."""
    from tagger.evaluation import evaluate_tagger, fit_calibration

    info = tagger.config.corpus
    if info is None:
        raise TaggerError("the models do not record the corpus they were trained on")
    corpus = info.source.load()
    validation = corpus.split("validation")
    found = {}
    if tagger.scheme != schemes.TOKEN and calibration != "none":
        found["calibration"] = fit_calibration(tagger, validation,
                                               corpus.documents.get("validation"), calibration)
    report = evaluate_tagger(tagger, validation, where=f"{info.dataset} validation split")
    tagger.metrics = {**(tagger.metrics or {}), "metric": report["metric"],
                      "validation_score": report["score"], "validation": report, **found}
