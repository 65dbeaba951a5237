"""The common framework recipe, for comparison in ``qa eval``: fixed-size chunks, dense only.

Each report is cut by LangChain's ``RecursiveCharacterTextSplitter`` into
250-character chunks with 50 characters of overlap at Chinese separators,
embedded with the same model, searched by cosine alone, no department
context, no routing and no chat history (a follow-up is searched as typed).
A chunk's department, for scoring, is the section its middle character falls in.
"""

from __future__ import annotations

import time

import numpy as np

from qa.config import Settings
from qa.evaluation.gold import Cited, GoldQuestion
from qa.evaluation.systems import Ranked, System
from qa.ingest.corpus import load_corpus

CHUNK_SIZE = 250
CHUNK_OVERLAP = 50
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", ""]


class BaselineSystem(System):
    name = "baseline"

    def __init__(self, settings: Settings):
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from qa.search.encoder import OnnxEncoder

        corpus = load_corpus(settings.corpus_dir, settings.chunking)
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, separators=SEPARATORS,
            keep_separator="end", add_start_index=True,
        )
        self.chunks: list[Cited] = []
        for report in corpus.reports:
            sections = sorted((c.start, c.dept) for c in report.chunks)
            for n, doc in enumerate(splitter.create_documents([report.text])):
                middle = doc.metadata["start_index"] + len(doc.page_content) // 2
                dept = next((d for s, d in reversed(sections) if s <= middle), report.title)
                self.chunks.append(Cited(f"{report.source}#{n}", report.source, dept, doc.page_content))
        self.encoder = OnnxEncoder(settings.index_dir / "encoder")
        self.vectors = self.encoder.encode([c.text for c in self.chunks])

    def run(self, question: str, depth: int = 10, history: list[str] | None = None) -> Ranked:
        t0 = time.perf_counter()
        sims = self.vectors @ self.encoder.encode([question])[0]
        order = np.argsort(-sims)[:depth]
        return Ranked([self.chunks[i] for i in order], False, time.perf_counter() - t0)

    def count_relevant(self, gold: GoldQuestion) -> int:
        return sum(gold.cited_relevant(c) for c in self.chunks)
