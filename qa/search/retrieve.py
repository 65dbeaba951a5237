"""Index -> ranked chunks: keyword, dense or hybrid search with report and department routing.

A question is analysed once (``analyze``): the reports it names (district,
title, year), the departments it names (by name or alias), whether it asks
across departments (哪些部门…), its keyword tokens and its vector.
``Retriever.search`` scores every chunk both ways, fuses the two rankings,
restricts to the named report(s) and department(s) where the name is
unambiguous and prefers them otherwise, and for cross-department questions
keeps one chunk per department of each report. A department present in
several reports is several departments: its key is (report, department).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from qa.ingest.document import Chunk
from qa.search.encoder import Encoder
from qa.search.index import ReportIndex
from qa.search.places import (YEAR, foreign_places, foreign_years, library_places, missing_work_reports,
                              other_level_governments, other_level_organisations, place_mentions, unknown_organisations)
from qa.search.synonyms import KEYWORD_SYNONYM_WEIGHT, synonym_keyword_scores

MODES = ("keyword", "dense", "hybrid")
RRF_K = 60
# Weighted fusion of min-max normalised scores; chosen on eval/questions.jsonl (see docs/answers.md).
DENSE_WEIGHT = 0.5
# An alias that ends like an organisation (教育局, 住建部门, 文旅局) routes hard; a bare topic-like short name
# (教育, 交通, 商务, 园区, 三方) only prefers its department: it may be an ordinary word of another topic.
_HARD_ALIAS = re.compile(r"(?:局|办|委|厅|处|署|中心|办公室|部门|管委会|委员会|指挥部)$")
# Added to the fused score (min-max scaled to 0..1) of the department or report a question names softly.
PREFER_DEPT = 0.15
PREFER_REPORT = 0.15
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
    hard_depts: list[str] = field(default_factory=list)  # named by full name or organisation-like alias
    dept_reports: dict[str, list[str]] = field(default_factory=dict)  # dept named by a report's own alias
    reports: list[str] = field(default_factory=list)  # report ids the question names unambiguously: filter
    prefer_reports: list[str] = field(default_factory=list)  # report ids it names softly (短名, 年份)
    dense_top: tuple[float, ...] = ()  # the five best cosines over all chunks, set by dense_scores
    foreign: list[str] = field(default_factory=list)  # places, other levels' organisations, years outside the library


@dataclass
class Hit:
    chunk: Chunk
    score: float  # the fused score the ranking uses
    dense: float  # cosine similarity to the question
    keyword: float  # BM25 score
    index: int = -1  # position of the chunk in the index
    reader: float | None = None  # the reader's probability that the passage answers (qa.reader), once scored


@lru_cache(maxsize=8)
def _alias_pattern(aliases: tuple[str, ...]) -> re.Pattern:
    """One alternation of every alias, longest first: at each position the longest alias wins."""
    return re.compile("|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True)))


def find_departments(text: str, aliases: dict[str, str]) -> list[str]:
    """Departments named in ``text`` (leftmost, longest alias first), in order of appearance."""
    return list(dict.fromkeys(dept for _, dept, _ in _alias_matches(text, aliases)))


def _alias_matches(text: str, aliases: dict[str, str]) -> list[tuple[int, str, str]]:
    """(position, department, alias) of every alias in ``text``, longest first, no overlaps.

    One regex pass over ``text``: linear in its length, whatever the text repeats.
    """
    names = tuple(a for a in aliases if a)
    if not names:
        return []
    return [(m.start(), aliases[m.group()], m.group()) for m in _alias_pattern(names).finditer(text)]


def abbreviated_departments(word: str, depts) -> list[str]:
    """Departments an organisation-like word abbreviates, as Chinese abbreviations do: its characters in
    order inside the department's name, from the same first character to the same last one (交通局 →
    区交通运输局, 卫健局 → 区卫生健康局). Three characters at least; a leading 区 and place name are ignored."""
    if len(word) < 3:
        return []
    out = []
    for dept in depts:
        name = dept[1:] if dept.startswith("区") else dept
        start = name.find(word[0])
        if start < 0 or name[-1] != word[-1]:
            continue
        rest = iter(name[start:])
        if all(ch in rest for ch in word):
            out.append(dept)
    return out


def is_hard_alias(alias: str, dept: str) -> bool:
    """Whether naming ``alias`` confines a question to ``dept``: its full name or an organisation-like name."""
    return alias == dept or bool(_HARD_ALIAS.search(alias))


def named_reports(text: str, reports) -> tuple[list[str], list[str]]:
    """(filter, prefer): report ids a question names, which restrict it, and ids it only prefers.

    A district restricts by its full name (临江区) or, when no other district of the library shares it, by its
    short name (临江, 拱墅): a question that names one district is that district's question. A title restricts
    too. A year only prefers (a district's reports of that year first), as does a short name that several
    districts share."""
    hard = [r.id for r in reports if (r.district and r.district in text) or (len(r.title) >= 6 and r.title in text)]
    shorts: dict[str, set[str]] = {}
    for r in reports:
        if r.district and len(r.district) >= 3:
            shorts.setdefault(r.district[:-1], set()).add(r.district)
    named_short = {s for s in shorts if s in text}
    unambiguous = {next(iter(shorts[s])) for s in named_short if len(shorts[s]) == 1}
    hard += [r.id for r in reports if r.district in unambiguous and r.id not in hard]
    soft = [r.id for r in reports if r.district and len(r.district) >= 3 and r.district[:-1] in named_short
            and r.id not in hard]
    years = [r.id for r in reports if r.year and re.search(rf"{r.year}(?!\d)", text)]
    if hard:
        return hard, [r for r in hard if r in years] if len(hard) > 1 else []
    if soft:
        return [], [r for r in soft if r in years] or soft
    return [], years


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
        index = self.index
        matches = _alias_matches(question, index.aliases)
        tagged = index.tokenizer.tagged(question)
        other_level = other_level_organisations(question, tagged, matches, index.corpus_text)
        if other_level:  # 市卫健委 is not the reports' 区卫健委: no department of theirs is named
            skip = {dept for _, dept in other_level}
            matches = [m for m in matches if m[1] not in skip]
        depts = list(dict.fromkeys(dept for _, dept, _ in matches))
        hard = list(dict.fromkeys(d for _, d, alias in matches if is_hard_alias(alias, d)))
        # A report's own alias (aliases.json "_reports") names that report's department only.
        own = {}
        for report in index.reports:
            for alias, dept in report.aliases.items():
                if alias in question and not any(alias in a and alias != a for _, _, a in matches):
                    own.setdefault(dept, []).append(report.id)
                    if dept not in depts:
                        depts.append(dept)
                    if is_hard_alias(alias, dept) and dept not in hard:
                        hard.append(dept)
        shared = {d for _, d, a in matches if all(a not in r.aliases for r in index.reports)}
        dept_reports = {d: ids for d, ids in own.items() if d not in shared}
        reports, prefer = named_reports(question, index.reports) if len(index.reports) > 1 else ([], [])
        terms = index.tokenizer.content_terms(question)
        places = library_places(index.reports)
        if reports or prefer:  # 滨河区 / 临江 name a report, like a department name they are no topic word
            terms = [t for t in terms if t not in places]
        unknown = [] if depts else [w for w in unknown_organisations(terms, index.corpus_text)
                                    if not abbreviated_departments(w, index.departments)]
        foreign = [name for name, _ in other_level]
        mentions = place_mentions(question, tagged)
        if not any(name in question for name in places):  # another district or city (西湖区, 余杭区); a year
            # that prefers a report (西湖区2024年…) does not make the place one of the library's
            foreign += [w for w in foreign_places(mentions, places, index.corpus_text) if w not in foreign]
        foreign += [w for w in other_level_governments(question, mentions, index.reports) if w not in foreign]
        named = [r for r in index.reports if r.id in reports] or index.reports  # 滨河区2023年: judged on 滨河区's report
        foreign += foreign_years(question, named, index.corpus_text_of(reports))
        foreign += [w for w in missing_work_reports(question, index.reports) if w not in foreign]
        foreign.sort(key=lambda w: question.find(w) % (len(question) + 1))  # in the order the question names them
        unknown += [w for w in foreign if w not in unknown]
        tokens = index.tokenizer.tokens(question)
        return Query(question, depts, unknown, asks_across_departments(question), tokens, terms,
                     hard_depts=hard, dept_reports=dept_reports, reports=reports, prefer_reports=prefer,
                     foreign=foreign)

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

    def allowed_mask(self, query: Query, dept: str | None = None, report: str | None = None) -> np.ndarray:
        """Chunks a question may cite: the chosen or unambiguously named report(s) and department(s)."""
        index = self.index
        mask = np.ones(len(index.chunks), dtype=bool)
        reports = [report] if report else query.reports
        if reports:
            narrowed = np.isin(index.report_of, reports)
            if narrowed.any():
                mask &= narrowed
        wanted = [dept] if dept else query.hard_depts
        if wanted:
            narrowed = mask & np.isin(index.dept_of, wanted)
            for name, ids in query.dept_reports.items():  # a report's own alias: only that report's department
                if name in wanted:
                    narrowed &= ~((index.dept_of == name) & ~np.isin(index.report_of, ids))
            if narrowed.any():
                mask = narrowed
            elif dept or report:
                # The department chosen, or named in the question, is not in the report chosen: nothing to cite
                # (an explicit choice is never silently widened).
                return np.zeros(len(index.chunks), dtype=bool)
        return mask

    def preference(self, query: Query, dept: str | None = None) -> np.ndarray:
        """Bonus for departments and reports a question names softly (短名, 年份): preferred, not exclusive."""
        index = self.index
        bonus = np.zeros(len(index.chunks), dtype=np.float32)
        soft = [d for d in query.depts if d not in query.hard_depts] if not dept else []
        if soft:
            preferred = np.isin(index.dept_of, soft)
            for name, ids in query.dept_reports.items():
                if name in soft:
                    preferred &= ~((index.dept_of == name) & ~np.isin(index.report_of, ids))
            bonus += PREFER_DEPT * preferred
        if query.prefer_reports:
            bonus += PREFER_REPORT * np.isin(index.report_of, query.prefer_reports)
        years = set(YEAR.findall(query.text))
        if years:  # 二、2024年工作安排 vs 一、2023年工作回顾: the part of a report whose heading names the year
            headed = [any(f"{y}年" in h for h in c.section for y in years) for c in index.chunks]
            bonus += PREFER_REPORT * np.asarray(headed, dtype=np.float32)
        return bonus

    def search(self, question: str | Query, k: int = 5, dept: str | None = None,
               report: str | None = None) -> list[Hit]:
        """Top ``k`` chunks for ``question``, best first; ``dept`` / ``report`` restrict to one of each."""
        query = question if isinstance(question, Query) else self.analyze(question)
        dense = self.dense_scores(query)
        keyword = self.keyword_scores(query)
        allowed = self.allowed_mask(query, dept, report)
        if not allowed.any():
            return []
        fused = self._fuse(dense, keyword, allowed)
        if self.mode == "hybrid":
            fused = fused + self.preference(query, dept)
        order = [int(i) for i in np.argsort(-fused, kind="stable") if allowed[i]]
        index = self.index
        if query.multi or (len(query.depts) > 1 and not dept):
            order = _one_per_department(order, index.dept_key, index.chunks)
        elif (query.hard_depts or dept) and not report and len(set(index.report_of[order[:50]])) > 1:
            # One department named, several reports have it: the best passage of each report first.
            named = [dept] if dept else query.hard_depts
            order = _one_per_report(order, index.report_of, index.dept_of, named, k)
        return [Hit(index.chunks[i], float(fused[i]), float(dense[i]), float(keyword[i]), i) for i in order[:k]]


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


def _one_per_report(order: list[int], report_of: np.ndarray, dept_of: np.ndarray, depts: list[str],
                    k: int) -> list[int]:
    """The best passage of the named department(s) in each report first, then the ranking as it was."""
    firsts, seen = [], set()
    for i in order:
        if dept_of[i] in depts and report_of[i] not in seen:
            seen.add(report_of[i])
            firsts.append(i)
    if len(firsts) < 2:
        return order
    head = [order[0]] + [i for i in firsts if i != order[0]][:max(k - 1, 1)]
    return head + [i for i in order if i not in head]


def _one_per_department(order: list[int], dept_of: np.ndarray, chunks: list[Chunk]) -> list[int]:
    """Best chunk of each department (key: report and department) first, in rank order, then the rest;
    overviews and passages outside any department last."""
    firsts, rest, seen = [], [], set()
    for i in order:
        dept = dept_of[i]
        if chunks[i].kind == "overview" or not chunks[i].dept or dept in seen:
            rest.append(i)
        else:
            seen.add(dept)
            firsts.append(i)
    return firsts + rest
