"""Answer: a question and its ranked passages in -> an extractive answer with citations, or an abstention, out."""
