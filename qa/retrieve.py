"""Index -> ranked chunks: keyword, dense or hybrid search with department routing.

A question is analysed once (``analyze``): the departments it names (by
name or alias), whether it asks across departments (哪些部门…), its keyword
tokens and its vector. ``Retriever.search`` scores every chunk both ways,
fuses the two rankings, restricts to named departments, and for
cross-department questions keeps one chunk per department.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qa.corpus import Chunk
from qa.encoder import Encoder
from qa.index import ReportIndex

MODES = ("keyword", "dense", "hybrid")
RRF_K = 60
# Weighted fusion of min-max normalised scores; chosen on eval/questions.jsonl (see README).
DENSE_WEIGHT = 0.5
_MULTI = re.compile(r"哪些部门|哪几个部门|哪些单位|哪几个单位|各部门|各个部门|哪些局|多个部门|几个部门|分别|都有谁|哪些地方")
_ORG_SUFFIX = re.compile(r"^[\u4e00-\u9fff]{1,8}(?:局|办|委|厅|处|署|中心|办公室)$")


@dataclass
class Query:
    """What the retriever knows about one question."""

    text: str
    depts: list[str]  # departments the question names, in order
    unknown_depts: list[str]  # organisation names that are not in the corpus
    multi: bool  # asks which departments do something
    tokens: list[str]  # keyword tokens
    terms: list[str]  # topic words (whole words, no stopwords or department names), for evidence
    vector: np.ndarray | None = None
    dense_z: float = 0.0  # (best cosine - mean cosine) / std over all chunks, set by dense_scores


@dataclass
class Hit:
    chunk: Chunk
    score: float  # the fused score the ranking uses
    dense: float  # cosine similarity to the question
    keyword: float  # BM25 score
    index: int = -1  # position of the chunk in the index


@lru_cache(maxsize=8)
def _alias_pattern(aliases: tuple[str, ...]) -> re.Pattern:
    """One alternation of every alias, longest first: at each position the longest alias wins."""
    return re.compile("|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True)))


def find_departments(text: str, aliases: dict[str, str]) -> list[str]:
    """Departments named in ``text`` (leftmost, longest alias first), in order of appearance.

    One regex pass over ``text``: linear in its length, whatever the text repeats.
    """
    names = tuple(a for a in aliases if a)
    if not names:
        return []
    return list(dict.fromkeys(aliases[m.group()] for m in _alias_pattern(names).finditer(text)))


class Retriever:
    """Search one ``ReportIndex`` with one query ``Encoder``."""

    def __init__(self, index: ReportIndex, encoder: Encoder, mode: str = "hybrid", fusion: str = "weighted",
                 dense_weight: float = DENSE_WEIGHT, cache_size: int = 2048):
        if mode not in MODES:
            raise ValueError(f"unknown retriever {mode!r}; choose from {', '.join(MODES)}")
        self.index = index
        self.encoder = encoder
        self.mode = mode
        self.fusion = fusion
        self.dense_weight = dense_weight
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------ analysis

    def vector(self, text: str) -> np.ndarray:
        """The question's vector, cached for repeated questions (thread-safe: the API answers in a thread pool)."""
        with self._cache_lock:
            cached = self._vectors.get(text)
            if cached is not None:
                self._vectors.move_to_end(text)
                return cached
        vec = self.encoder.encode([text])[0]  # outside the lock: encodes run in parallel
        with self._cache_lock:
            self._vectors[text] = vec
            while len(self._vectors) > self._cache_size:
                self._vectors.popitem(last=False)
        return vec

    def analyze(self, question: str) -> Query:
        depts = find_departments(question, self.index.aliases)
        terms = self.index.tokenizer.content_terms(question)
        unknown = [] if depts else [
            w for w in terms if _ORG_SUFFIX.match(w) and w not in self.index.corpus_text
        ]
        tokens = self.index.tokenizer.tokens(question)
        return Query(question, depts, unknown, bool(_MULTI.search(question)), tokens, terms)

    # ------------------------------------------------------------ scoring

    def keyword_scores(self, query: Query) -> np.ndarray:
        n = len(self.index.chunks)
        known = [t for t in query.tokens if t in self.index.bm25.vocab_dict]
        if not known:
            return np.zeros(n, dtype=np.float32)
        return np.asarray(self.index.bm25.get_scores(known), dtype=np.float32)

    def dense_scores(self, query: Query) -> np.ndarray:
        if query.vector is None:
            query.vector = self.vector(query.text)
        n = self.index.dense.ntotal
        sims, ids = self.index.dense.search(query.vector[None, :], n)
        scores = np.empty(n, dtype=np.float32)
        scores[ids[0]] = sims[0]
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
