"""Evaluation: question files in -> retrieval, answer and performance figures out (qa eval, qa bench, qa train-abstain)."""
