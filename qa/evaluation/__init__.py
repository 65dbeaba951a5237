"""Evaluation: question files in -> retrieval, answer and performance figures out (qa eval, bench, train-abstain)."""
