"""tagger: sequence tagging (NER, POS) with a small BiLSTM in TensorFlow.

Importing the package is cheap; TensorFlow loads only when a model is built or used.
"""

__version__ = "0.2.0"
