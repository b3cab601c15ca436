"""Text to the network's ids: the tokenizer, the vocabulary, the featurizer."""
