"""Ranked hits in -> the same hits with the reader's scores, the first ``RERANK_DEPTH`` reordered by them.

The retriever's fused ranking chooses the candidates; the reader reads each against the question and its
probability becomes ``Hit.reader``. The order of the candidates is the reader's, with the fused score as a
small tie-breaker (``FUSED_WEIGHT``); both were chosen on dev (``docs/answers.md``).
"""

from __future__ import annotations

from typing import Protocol, Sequence

from qa.reader.model import passage_text
from qa.search.retrieve import Hit

RERANK_DEPTH = 5
FUSED_WEIGHT = 2.0


class Scorer(Protocol):
    def score(self, question: str, passages: Sequence[str]) -> Sequence[float]: ...


def hit_passage(hit: Hit) -> str:
    return passage_text(hit.chunk.context, hit.chunk.text)


def score_hits(reader: Scorer, question: str, hits: list[Hit],
               depth: int = RERANK_DEPTH) -> None:
    """Set ``Hit.reader`` on the first ``depth`` hits (one batched call)."""
    head = [h for h in hits[:depth] if h.reader is None]
    if head:
        for hit, value in zip(head, reader.score(question, [hit_passage(h) for h in head])):
            hit.reader = float(value)


def rerank(reader: Scorer, question: str, hits: list[Hit], depth: int = RERANK_DEPTH,
           reorder: bool = True, fused_weight: float = FUSED_WEIGHT) -> list[Hit]:
    """``hits`` with the first ``depth`` scored and (``reorder``) sorted by reader + ``fused_weight`` · fused."""
    score_hits(reader, question, hits, depth)
    if not reorder:
        return hits
    head = sorted(hits[:depth], key=lambda h: -(h.reader + fused_weight * h.score))
    return head + hits[depth:]
