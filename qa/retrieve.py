"""Index -> ranked chunks: keyword, dense or hybrid search with department routing.

A question is analysed once (``analyze``): the departments it names (by
name or alias), whether it asks across departments (哪些部门…), its keyword
tokens and its vector. ``Retriever.search`` scores every chunk both ways,
fuses the two rankings, restricts to named departments, and for
cross-department questions keeps one chunk per department.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from qa.abstain import unknown_organisations
from qa.corpus import Chunk
from qa.encoder import Encoder
from qa.index import ReportIndex
from qa.synonyms import KEYWORD_SYNONYM_WEIGHT, synonym_keyword_scores

MODES = ("keyword", "dense", "hybrid")
RRF_K = 60
# Weighted fusion of min-max normalised scores; chosen on eval/questions.jsonl (see README).
DENSE_WEIGHT = 0.5
# Asking across departments: a department-class noun after an interrogative or plural quantifier
# (哪些部门, 哪几个单位, 各局, 多个机构); 哪些地方 asks for places, not departments. "分别" with two
# named departments is handled by the department count.
_MULTI = re.compile(r"(?:哪些|哪几个|哪几家|几个|多个|各个|各|所有|全部)(?:的)?"
                    r"(?:部门|单位|局|委办局|机构|科室|职能部门)")


def asks_across_departments(text: str) -> bool:
    """Whether ``text`` asks which departments do something (哪些部门…, 各单位…)."""
    return bool(_MULTI.search(text))


@dataclass
class Query:
    """What the retriever knows about one question."""

    text: str
    depts: list[str]  # departments the question names, in order
    unknown_depts: list[str]  # organisation-like words absent from the corpus (evidence for the abstention model)
    multi: bool  # asks which departments do something
    tokens: list[str]  # keyword tokens
    terms: list[str]  # topic words (whole words, no stopwords or department names), for evidence
    vector: np.ndarray | None = None
    dense_z: float = 0.0  # (best cosine - mean cosine) / std over all chunks, set by dense_scores
    dense_top: tuple[float, ...] = ()  # the five best cosines over all chunks, set by dense_scores


@dataclass
class Hit:
    chunk: Chunk
    score: float  # the fused score the ranking uses
    dense: float  # cosine similarity to the question
    keyword: float  # BM25 score
    index: int = -1  # position of the chunk in the index


def find_departments(text: str, aliases: dict[str, str]) -> list[str]:
    """Departments named in ``text``, longest alias first, in order of appearance."""
    found: list[tuple[int, str]] = []
    masked = text
    for alias in sorted(aliases, key=len, reverse=True):
        pos = masked.find(alias)
        while pos != -1:
            found.append((pos, aliases[alias]))
            masked = masked[:pos] + "\0" * len(alias) + masked[pos + len(alias):]
            pos = masked.find(alias)
    return list(dict.fromkeys(dept for _, dept in sorted(found)))


class Retriever:
    """Search one ``ReportIndex`` with one query ``Encoder``."""

    def __init__(self, index: ReportIndex, encoder: Encoder, mode: str = "hybrid", fusion: str = "weighted",
                 dense_weight: float = DENSE_WEIGHT, cache_size: int = 2048,
                 synonym_weight: float = KEYWORD_SYNONYM_WEIGHT):
        if mode not in MODES:
            raise ValueError(f"unknown retriever {mode!r}; choose from {', '.join(MODES)}")
        self.index = index
        self.encoder = encoder
        self.mode = mode
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.synonym_weight = synonym_weight
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    # ------------------------------------------------------------ analysis

    def vector(self, text: str) -> np.ndarray:
        """The question's vector, cached for repeated questions."""
        if text in self._vectors:
            self._vectors.move_to_end(text)
            return self._vectors[text]
        vec = self.encoder.encode([text])[0]
        self._vectors[text] = vec
        if len(self._vectors) > self._cache_size:
            self._vectors.popitem(last=False)
        return vec

    def analyze(self, question: str) -> Query:
        depts = find_departments(question, self.index.aliases)
        terms = self.index.tokenizer.content_terms(question)
        unknown = [] if depts else unknown_organisations(terms, self.index.corpus_text)
        tokens = self.index.tokenizer.tokens(question)
        return Query(question, depts, unknown, asks_across_departments(question), tokens, terms)

    # ------------------------------------------------------------ scoring

    def keyword_scores(self, query: Query) -> np.ndarray:
        n = len(self.index.chunks)
        known = [t for t in query.tokens if t in self.index.bm25.vocab_dict]
        scores = np.asarray(self.index.bm25.get_scores(known), dtype=np.float32) if known else np.zeros(n, np.float32)
        if self.synonym_weight > 0:  # corpus words that share a thesaurus group with a topic word, weighted lower
            scores = scores + self.synonym_weight * synonym_keyword_scores(self.index, query.terms, known)
        return scores

    def dense_scores(self, query: Query) -> np.ndarray:
        if query.vector is None:
            query.vector = self.vector(query.text)
        n = self.index.dense.ntotal
        sims, ids = self.index.dense.search(query.vector[None, :], n)
        scores = np.empty(n, dtype=np.float32)
        scores[ids[0]] = sims[0]
        query.dense_top = tuple(float(s) for s in np.sort(scores)[::-1][:5])
        spread = float(scores.std())
        query.dense_z = float((scores.max() - scores.mean()) / spread) if spread > 1e-9 else 0.0
        return scores

    def _fuse(self, dense: np.ndarray, keyword: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        if self.mode == "dense":
            return dense.copy()
        if self.mode == "keyword":
            return keyword + 1e-3 * dense  # dense only breaks keyword ties
        if self.fusion == "rrf":
            return _rrf(dense, allowed) + _rrf(keyword, allowed)
        return self.dense_weight * _minmax(dense, allowed) + (1 - self.dense_weight) * _minmax(keyword, allowed)

    def allowed_mask(self, query: Query, dept: str | None = None) -> np.ndarray:
        """Chunks a question may cite: the chosen or named departments, else everything."""
        wanted = [dept] if dept else query.depts
        if wanted:
            mask = np.isin(self.index.dept_of, wanted)
            if mask.any():
                return mask
        return np.ones(len(self.index.chunks), dtype=bool)

    def search(self, question: str | Query, k: int = 5, dept: str | None = None) -> list[Hit]:
        """Top ``k`` chunks for ``question``, best first; ``dept`` restricts to one department."""
        query = question if isinstance(question, Query) else self.analyze(question)
        dense = self.dense_scores(query)
        keyword = self.keyword_scores(query)
        allowed = self.allowed_mask(query, dept)
        fused = self._fuse(dense, keyword, allowed)
        order = [int(i) for i in np.argsort(-fused, kind="stable") if allowed[i]]
        if query.multi or (len(query.depts) > 1 and not dept):
            order = _one_per_department(order, self.index.dept_of, self.index.chunks)
        return [Hit(self.index.chunks[i], float(fused[i]), float(dense[i]), float(keyword[i]), i) for i in order[:k]]


def _minmax(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    values = scores[allowed]
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        return np.zeros_like(scores)
    return (scores - lo) / (hi - lo)


def _rrf(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(scores), dtype=np.float32)
    masked = np.where(allowed, scores, -np.inf)
    ranks[np.argsort(-masked, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (RRF_K + ranks)


def _one_per_department(order: list[int], dept_of: np.ndarray, chunks: list[Chunk]) -> list[int]:
    """Best chunk of each department first (in rank order), then the rest; overviews last."""
    firsts, rest, seen = [], [], set()
    for i in order:
        dept = dept_of[i]
        if chunks[i].kind == "overview" or dept in seen:
            rest.append(i)
        else:
            seen.add(dept)
            firsts.append(i)
    return firsts + rest
