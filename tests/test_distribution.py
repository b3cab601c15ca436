"""`tagger train` on two workers (TF_CONFIG, MultiWorkerMirroredStrategy) on 127.0.0.1: the
same weights on both, only the chief writes, the score of one worker with the same global
batch; a worker that dies fails the other in one line, with nothing written."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tagger.errors import TaggerError
from tagger.pipeline import Tagger
from tagger.training.distribution import Cluster, cluster_from_env

from .conftest import DEMO, SHARED, free_port

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

# Runs `tagger train` (the command line, in this process) and keeps the trained weights in
# the .npz file given first: the test compares the workers' final weights.
WORKER = r"""
import sys
import numpy as np
from tagger import training
from tagger.apps import cli

train = training.train

def keep_weights(*args, **kwargs):
    tagger, metrics = train(*args, **kwargs)
    np.savez(sys.argv[1], *tagger.backend.model.get_weights())
    return tagger, metrics

training.train = keep_weights
cli.main(sys.argv[2:])
"""
SMALL = ["--units", "16", "--embedding-dim", "16", "--char-filters", "16",
         "--learning-rate", "0.01", "--batch-size", "32"]


def _ewt_sample(folder: Path) -> str:
    """1,000 EWT train and 300 dev sentences as CoNLL-U files: POS accuracy on them is
    steady enough from run to run to compare two trainings."""
    raw = SHARED / "raw" / "ud_en_ewt"
    files = []
    for split, count in (("train", 1000), ("dev", 300)):
        text = (raw / f"en_ewt-ud-{split}.conllu").read_text(encoding="utf-8")
        path = folder / f"{split}.conllu"
        path.write_text("\n\n".join(text.split("\n\n")[:count]) + "\n\n", encoding="utf-8")
        files.append(f"{split}={path}")
    return ",".join(files)


def _start(tmp_path: Path, index: int | None, ports: list[int], epochs: int,
           extra_env: dict | None = None, dataset: str = str(DEMO),
           options: tuple[str, ...] = ()) -> subprocess.Popen:
    env = {**os.environ, **(extra_env or {})}
    env.pop("TF_CONFIG", None)
    if index is not None:
        env["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index}})
    name = "single" if index is None else f"worker{index}"
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tmp_path / f"{name}.npz"), "train", "--dataset",
         dataset, "--output", str(tmp_path / name), "--epochs", str(epochs), *SMALL,
         *options],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_agree_and_only_the_chief_writes(tmp_path: Path):
    ports = [free_port(), free_port()]
    ewt = _ewt_sample(tmp_path)
    workers = [_start(tmp_path, i, ports, epochs=5, dataset=ewt) for i in (0, 1)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    chief, other = (np.load(tmp_path / f"worker{i}.npz") for i in (0, 1))
    assert all(np.array_equal(chief[k], other[k]) for k in chief.files)
    assert not (tmp_path / "worker1").exists()
    assert "worker 1 of 2 done; worker 0 writes the model" in outputs[1][1]
    tagger = Tagger.load(tmp_path / "worker0")
    assert tagger.metrics["workers"] == 2
    assert tagger.tag(["Anna flew to Berlin ."])[0].tags[-1] == "PUNCT"

    single = _start(tmp_path, None, ports, epochs=5, dataset=ewt)
    _, err = single.communicate(timeout=600)
    assert single.returncode == 0, err
    # Progress reaches the process's stderr.
    assert "settings from the corpus: " in err and "kept epoch" in err, err
    alone = json.loads((tmp_path / "single" / "metrics.json").read_text(encoding="utf-8"))
    # The same global batch, split differently: within the noise of a short run (one
    # worker, seeds 1-3: 86.8, 87.3, 88.0; two workers 88.6).
    assert abs(tagger.metrics["validation_score"] - alone["validation_score"]) < 0.03
    assert tagger.metrics["validation_score"] > 0.75


def test_a_worker_that_dies_fails_the_other_in_one_line_and_the_job_resumes(
        tmp_path: Path):
    ports = [free_port(), free_port()]
    timeout = {"TAGGER_COLLECTIVE_TIMEOUT": "30"}
    resumable = ("--patience", "12", "--checkpoint-dir", str(tmp_path / "state"))
    chief = _start(tmp_path, 0, ports, epochs=12, extra_env=timeout, options=resumable)
    other = _start(tmp_path, 1, ports, epochs=12, extra_env=timeout, options=resumable)
    started = time.monotonic()
    seen = ""
    while "epoch 2/" not in seen:  # training is under way on both
        line = chief.stderr.readline()
        assert line, f"the chief ended early: {seen}"
        seen += line
    other.kill()
    other.wait()
    killed = time.monotonic()
    _, err = chief.communicate(timeout=120)
    assert chief.returncode != 0
    assert time.monotonic() - killed < 90
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: training on 2 workers failed in epoch"), err
    assert "Traceback" not in err
    assert not (tmp_path / "worker0").exists()
    assert time.monotonic() - started < 300

    # The same command on both (new ports: the old ones may linger) carries on from the
    # chief's last checkpoint and ends with all the epochs in the model's history.
    ports = [free_port(), free_port()]
    workers = [_start(tmp_path, i, ports, epochs=12, options=resumable) for i in (0, 1)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    done = [int(line.split(": ")[1].split()[0]) for line in outputs[0][1].splitlines()
            if line.startswith(f"resuming from {tmp_path / 'state'}: ")]
    assert len(done) == 1 and 1 <= done[0] < 12, outputs[0][1]
    chief_weights, other_weights = (np.load(tmp_path / f"worker{i}.npz") for i in (0, 1))
    assert all(np.array_equal(chief_weights[k], other_weights[k])
               for k in chief_weights.files)
    metrics = Tagger.load(tmp_path / "worker0").metrics
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, 13))
    assert not (tmp_path / "worker1").exists()


def test_a_worker_without_the_checkpoint_is_refused(tmp_path: Path):
    """The chief resumes, the other worker finds no checkpoint: a clear error on both."""
    single = _start(tmp_path, None, [], epochs=1,
                    options=("--checkpoint-dir", str(tmp_path / "chief-state")))
    single.communicate(timeout=300)
    assert single.returncode == 0
    ports = [free_port(), free_port()]
    workers = [_start(tmp_path, i, ports, epochs=1, extra_env={
        "TAGGER_COLLECTIVE_TIMEOUT": "30"}, options=(
        "--checkpoint-dir", str(tmp_path / ("chief-state" if i == 0 else "empty"))))
        for i in (0, 1)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [2, 2], outputs
    for _, err in outputs:
        assert err.strip().splitlines()[-1] == (
            "error: the workers would start at different epochs (worker 0 "
            "at epoch 2, worker 1 at epoch 1): give every worker the same --checkpoint-dir "
            "(a shared folder, or a copy of the chief's)"), err
    assert not (tmp_path / "worker0").exists()


@pytest.mark.parametrize("config, expected", [
    ("", None),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}', None),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}',
     Cluster(2, 1)),
    ("{not json", "TF_CONFIG is not a cluster description"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     "task index 2 is not one of the 2 workers"),
    ('{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "chief", '
     '"index": 0}}', "runs on \"worker\" tasks only"),
])
def test_tf_config(monkeypatch: pytest.MonkeyPatch, config: str, expected):
    monkeypatch.setenv("TF_CONFIG", config)
    if isinstance(expected, str):
        with pytest.raises(TaggerError, match=expected):
            cluster_from_env()
    else:
        assert cluster_from_env() == expected
