"""Contextual word features from a BERT-family encoder: its checkpoint (`checkpoint`) and
the subword windows the pipeline runs it on (`context`)."""
