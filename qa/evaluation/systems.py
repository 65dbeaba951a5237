"""The systems ``qa eval`` compares: anything that ranks citations for a question and may abstain.

``PipelineSystem`` is the product (``ReportQA`` in one retrieval mode); ``qa/evaluation/baseline.py`` holds the
framework recipe it is measured against. Both return ``Ranked``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from qa.evaluation.gold import Cited, GoldQuestion


@dataclass
class Ranked:
    """What one system returned for one question: citations best first, and whether it abstained."""

    citations: list[Cited]
    abstained: bool
    seconds: float


class System:
    """A retriever under test: ``run(question, depth, history) -> Ranked`` and ``count_relevant``."""

    name: str

    def run(self, question: str, depth: int = 10, history: list[str] | None = None) -> Ranked: ...

    def count_relevant(self, gold: GoldQuestion) -> int: ...


class PipelineSystem(System):
    """``ReportQA.ask`` with the question's chat history; when it abstains, the retriever's ranking is
    kept anyway, so ranking metrics do not depend on abstention."""

    def __init__(self, name: str, settings, qa=None):
        """``qa``: an existing ``ReportQA`` to measure (tests); by default one is made from ``settings``."""
        from qa.pipeline import ReportQA

        self.name = name
        self.qa = qa if qa is not None else ReportQA(settings, mode=name)

    def run(self, question: str, depth: int = 10, history: list[str] | None = None) -> Ranked:
        from qa.pipeline import Turn

        turns = [Turn(h) for h in history or []]
        t0 = time.perf_counter()
        answer = self.qa.ask(question, k=depth, history=turns or None)
        seconds = time.perf_counter() - t0
        if answer.abstained:
            asked = self.qa.resolve_followup(question, turns) if turns else question
            cites = [Cited(h.chunk.id, h.chunk.source, h.chunk.dept or h.chunk.title, h.chunk.text)
                     for h in self.qa.search(asked, depth)]
        else:
            cites = [Cited(c.id, c.source, c.dept or c.report, c.text) for c in answer.citations]
        return Ranked(cites, answer.abstained, seconds)

    def count_relevant(self, gold: GoldQuestion) -> int:
        return sum(gold.relevant(c.dept or c.title, c.text, c.source) for c in self.qa.index.chunks)
