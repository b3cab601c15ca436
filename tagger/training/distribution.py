"""Data-parallel training on several workers with `tf.distribute`.

When `TF_CONFIG` describes a cluster of two or more workers, `tagger train` runs the same
command on every worker: each holds a copy of the model, takes its own share of each epoch's
sentences (bucketed by length as on one worker, at the global batch size divided by the
number of workers), and their gradients are summed across workers at every step
(MultiWorkerMirroredStrategy), so all copies stay identical. Worker 0 (the chief) scores
validation after each epoch and decides on keeping the weights, halving the learning rate
and stopping; the decision is shared by a collective, so all workers act on it together.
Only the chief writes the model folder.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy (its data adapter meets
per-replica values: keras-team/keras#20585); this module's loop runs the model's own loss
and optimizer through `strategy.run` instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from tagger.errors import TaggerError

# Seconds the end-of-epoch exchange (and the final barrier) waits for the other workers: the
# chief scores validation meanwhile. Training steps have no such bound: TensorFlow keeps a
# thread per collective for as long as its timeout runs, and a bounded step soon runs out
# of threads. A worker that dies closes its connections,
# which fails the others' steps at once, and the coordination service notices a worker
# that stops sending heartbeats.
COLLECTIVE_TIMEOUT = float(os.environ.get("TAGGER_COLLECTIVE_TIMEOUT", "300"))


@dataclass(frozen=True)
class Cluster:
    """This process's place in a TF_CONFIG cluster."""

    workers: int
    index: int

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def cluster_from_env() -> Cluster | None:
    """The cluster TF_CONFIG describes, or None for one worker (no TF_CONFIG, or a cluster of
    one). Only "worker" tasks are used; worker 0 is the chief."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise TaggerError(f"TF_CONFIG is not a cluster description ({error}); give "
                          '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": '
                          '"worker", "index": N}}') from None
    if set(config["cluster"]) - {"worker"} or task.get("type") != "worker":
        raise TaggerError("TF_CONFIG: tagger train runs on \"worker\" tasks only (worker 0 "
                          "is the chief); remove the other task types")
    if not 0 <= index < len(workers):
        raise TaggerError(f"TF_CONFIG: task index {index} is not one of the "
                          f"{len(workers)} workers")
    return Cluster(len(workers), index) if len(workers) > 1 else None


def strategy():
    """MultiWorkerMirroredStrategy for TF_CONFIG's cluster. It must be made before
    TensorFlow runs anything else in the process."""
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


class Training:
    """The steps of a distributed epoch and the chief's decisions, as compiled functions
    that every worker traces once (their collectives must match one to one)."""

    def __init__(self, strategy, model, make_dataset) -> None:
        import tensorflow as tf

        self.model = model
        replicas = strategy.num_replicas_in_sync

        def replica_step(x, y, weights):
            with tf.GradientTape() as tape:
                scores = model(x, training=True)
                loss = model.compute_loss(x, y, scores, weights)
                # The optimizer sums gradients over workers: each brings its share.
                share = loss / replicas
            gradients = tape.gradient(share, model.trainable_variables)
            model.optimizer.apply_gradients(zip(gradients, model.trainable_variables,
                                                strict=True))
            return loss

        @tf.function
        def step(batches):
            losses = strategy.run(replica_step, args=next(batches))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

        bounded = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=COLLECTIVE_TIMEOUT)

        def replica_sum(values):
            # tf.identity places the input on this replica's device, which all_reduce needs.
            return tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.identity(values), options=bounded)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def share(values):
            return strategy.experimental_local_results(
                strategy.run(replica_sum, args=(values,)))[0]

        self.step, self.share = step, share
        self.batches = iter(strategy.distribute_datasets_from_function(make_dataset))

    def run_epoch(self, steps: int, on_batch) -> float:
        """`steps` steps on the next batches of each worker's endless stream; the mean loss."""
        total = 0.0
        for index in range(steps):
            loss = float(self.step(self.batches))
            total += loss
            on_batch(index, {"loss": loss})
        return total / max(steps, 1)

    def finish(self) -> None:
        """Wait until every worker is here, past its last collective: a worker that left
        earlier could break another's last exchange, still pulling its data (the chief's
        coordination service also aborts collectives once a worker stops sending
        heartbeats, which it logs when the other worker exits first)."""
        from tensorflow.python.eager import context  # the barrier has no public API

        context.context().wait_at_barrier("tagger-training-done",
                                          int(COLLECTIVE_TIMEOUT * 1000))

    def gather(self, value: float, index: int, workers: int) -> list[float]:
        """Every worker's `value`, in worker order (this one is worker `index`)."""
        import numpy as np

        mine = np.zeros(workers, np.float32)
        mine[index] = value
        return [float(v) for v in self.share(mine)]

    def agree(self, values: list[float], chief: bool) -> list[float]:
        """The chief's `values` on every worker."""
        import numpy as np

        mine = np.asarray(values if chief else [0.0] * len(values), np.float32)
        return [float(v) for v in self.share(mine)]
