"""Loading a model folder on the runtime asked for: TensorFlow, or ONNX Runtime for a folder
written by `tagger export --format onnx` (which then never imports TensorFlow)."""

from __future__ import annotations

from pathlib import Path

RUNTIMES = ("auto", "onnx", "tensorflow")


def uses_onnx(path: str | Path, runtime: str) -> bool:
    """Whether `runtime` means ONNX Runtime for model folder `path` ("auto": if it holds an
    exported network)."""
    from tagger.onnx_tagging import has_network

    return runtime == "onnx" or (runtime == "auto" and has_network(path))


def load_tagger(path: str | Path, runtime: str = "auto", threads: int | None = None):
    """The `tagging.Tagger` or `onnx_tagging.OnnxTagger` of model folder `path`; `threads`:
    threads for the network's operations (default: the runtime's own choice)."""
    if uses_onnx(path, runtime):
        from tagger.onnx_tagging import OnnxTagger

        return OnnxTagger.load(path, threads)
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    from tagger.tagging import Tagger

    return Tagger.load(path)
