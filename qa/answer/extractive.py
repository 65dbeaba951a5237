"""Ranked chunks -> a short extractive answer with [n] citations, or an abstention.

The answer uses only the report's words: for each cited item it picks the
clause(s) closest to the question (clause vectors are precomputed at build
time, so this costs a dot product). Whether to answer at all is the learned
policy's call (``qa.answer.abstain.decide``): every answer carries its ``confidence``,
the model's probability that the reports answer the question.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from qa.answer.abstain import decide
from qa.search.retrieve import Hit, Query

_ITEM_PREFIX = re.compile(r"^[一二三四五六七八九十]{1,3}是")


@dataclass
class Citation:
    id: str
    source: str
    dept: str
    headline: str
    item_no: int
    text: str
    start: int
    end: int
    score: float
    report: str = ""  # the report's title
    section: list[str] = field(default_factory=list)  # the heading path above the passage
    report_id: str = ""  # the report's id (file stem), as ``report`` filters take it
    # Not part of the JSON contract: for the UI.
    item_label: str = ""
    kind: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)  # absolute spans inside [start, end)

    CONTRACT = ("id", "source", "dept", "headline", "item_no", "text", "start", "end", "score", "report", "section",
                "report_id")

    def to_json(self) -> dict:
        data = asdict(self)
        return {key: data[key] for key in self.CONTRACT}


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    missing_terms: list[str] = field(default_factory=list)  # why it abstained: absent topic words or organisations
    confidence: float = 0.0  # p(the reports answer this question), from the answerability model
    # How a follow-up was understood (the resolved question), when it differs from ``question``.
    understood_as: str | None = None
    # Plain sentences the reader should see before the answer (a department filter the question
    # contradicts, a department with nothing on the topic); see qa/answer/notices.py.
    notices: list[str] = field(default_factory=list)
    kind: str = "answer"  # "answer", "abstained" or "greeting" (small talk gets help text, not a search)

    @property
    def id(self) -> str:
        """A stable id for this answer (same question, reading and answer -> same id): feedback refers to it."""
        key = "\x1f".join([self.question, self.understood_as or "", self.answer, *(c.id for c in self.citations)])
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "question": self.question,
            "understood_as": self.understood_as,
            "answer": self.answer,
            "abstained": self.abstained,
            "confidence": self.confidence,
            "notices": list(self.notices),
            "citations": [c.to_json() for c in self.citations],
        }


@dataclass
class Evidence:
    """Which of the question's words the corpus lacks: what an abstention message names."""

    terms: list[str]  # the question's topic words
    missing: list[str]  # topic words that never occur in the corpus
    coverage: float  # share of the topic words' character pairs that occur in the corpus
    top_keyword: float
    dense_z: float


def bigram_coverage(terms: list[str], corpus_text: str) -> float:
    """Length-weighted share of each term's character pairs found in the corpus (亚运会 -> 亚运 ✓, 运会 ✗)."""
    weighted = total = 0.0
    for term in terms:
        if len(term) < 2:
            continue
        pairs = [term[i:i + 2] for i in range(len(term) - 1)]
        weighted += len(term) * sum(p in corpus_text for p in pairs) / len(pairs)
        total += len(term)
    return 1.0 if total == 0 else weighted / total


def gather_evidence(query: Query, hits: list[Hit], corpus_text: str) -> Evidence:
    terms = query.terms
    missing = [t for t in terms if t not in corpus_text]
    top_keyword = max((h.keyword for h in hits), default=0.0)
    return Evidence(terms, missing, bigram_coverage(terms, corpus_text), top_keyword, query.dense_z)


def departments_of(index, report_ids: list[str]) -> list[str]:
    """The departments of the chosen (or named) reports, in the library's order; the library's without any."""
    if not report_ids:
        return index.departments
    wanted = set(report_ids)
    own = {c.dept for c in index.chunks if c.report in wanted and c.dept}
    return [d for d in index.departments if d in own] or index.departments


def abstention_message(query: Query, evidence: Evidence, departments: list[str]) -> str:
    covered = "、".join(departments[:12])
    if query.foreign:
        names = "、".join(query.foreign[:3])
        return f"已收录的报告中没有关于{names}的内容，无法据此回答。已收录报告涉及的部门有：{covered}。"
    if query.unknown_depts:
        topic = "、".join(query.unknown_depts)
    elif evidence.missing:
        topic = "、".join(f"“{t}”" for t in evidence.missing[:3])
    elif evidence.terms:
        topic = "、".join(f"“{t}”" for t in evidence.terms[:3])
    else:
        topic = "这个问题"
    return f"报告中没有提到{topic}的相关内容，无法据此回答。本报告涉及的部门有：{covered}。"


# ---------------------------------------------------------------- extraction


def _clause_scores(hit: Hit, query: Query, index) -> list[tuple[float, tuple[int, int]]]:
    rows = np.arange(index.clause_offsets[hit.index], index.clause_offsets[hit.index + 1])
    spans = [index.clause_spans[r] for r in rows]
    if query.vector is not None and len(rows):
        sims = index.clause_vectors[rows] @ query.vector
    else:
        sims = np.zeros(len(rows))
    scored = []
    text, base = hit.chunk.text, hit.chunk.start
    for sim, (s, e) in zip(sims, spans):
        clause = text[s - base:e - base]
        overlap = sum(1 for t in set(query.tokens) if t in clause) / max(len(set(query.tokens)), 1)
        scored.append((float(sim) + 0.3 * overlap, (s, e)))
    return scored


def best_clauses(hit: Hit, query: Query, index, max_clauses: int = 2) -> list[tuple[int, int]]:
    """The clause spans of ``hit`` that answer ``query``, in text order."""
    scored = sorted(_clause_scores(hit, query, index), key=lambda x: -x[0])
    if not scored:
        return [(hit.chunk.start, hit.chunk.end)]
    chosen = [scored[0]]
    for score, span in scored[1:max_clauses]:
        if score >= scored[0][0] - 0.04:
            chosen.append((score, span))
    return sorted(span for _, span in chosen)


def _clause_text(hit: Hit, span: tuple[int, int]) -> str:
    clause = hit.chunk.text[span[0] - hit.chunk.start:span[1] - hit.chunk.start]
    clause = _ITEM_PREFIX.sub("", clause).rstrip("；;，,、 ")
    return clause if clause.endswith(("。", "！", "？", "”")) else clause + "。"


def build_answer(query: Query, hits: list[Hit], index) -> Answer:
    """Compose the answer from ``hits`` (already ranked), or abstain."""
    corpus_text = index.corpus_text_of(query.reports)
    evidence = gather_evidence(query, hits, corpus_text)
    decision = decide(query, hits, index)
    if decision.abstain:
        return Answer(query.text, abstention_message(query, evidence, departments_of(index, query.reports)), True, [],
                      query.unknown_depts or evidence.missing, decision.confidence)
    citations = []
    for hit in hits:
        spans = best_clauses(hit, query, index)
        c = hit.chunk
        citations.append(Citation(c.id, c.source, c.dept, c.headline, c.item_no, c.text, c.start, c.end,
                                  round(hit.score, 4), report_title(index, c), list(c.section), c.report,
                                  c.item_label, c.kind, spans))
    label = _report_labeller(index, hits)
    if len(query.depts) == 1 and not query.terms and not query.multi:
        overview = _department_overview(query.depts[0], hits, citations, label)
        if overview:
            return Answer(query.text, overview, False, citations, confidence=decision.confidence)
    used = _answer_hits(query, hits)
    parts = []
    for n in used:
        sentence = "".join(_clause_text(hits[n], span) for span in citations[n].highlights)
        parts.append(f"{label(hits[n].chunk)}{hits[n].chunk.context}：{sentence}[{n + 1}]")
    text = "\n".join(parts) if len(parts) > 1 else parts[0]
    if query.multi and len(used) > 1:
        depts = "、".join(dict.fromkeys(f"{label(hits[n].chunk)}{hits[n].chunk.dept}" for n in used
                                        if hits[n].chunk.dept))
        text = f"涉及的部门有{depts}。\n" + text if depts else text
    return Answer(query.text, text, False, citations, confidence=decision.confidence)


def report_title(index, chunk) -> str:
    info = index.report_by_id.get(chunk.report)
    return info.title if info is not None else chunk.title


def _report_labeller(index, hits: list[Hit]):
    """``chunk -> "【临江区·…】"`` when the library has several reports, else ``""`` (one report: no label)."""
    reports = index.report_by_id
    if len(reports) <= 1:
        return lambda chunk: ""

    def label(chunk) -> str:
        info = reports.get(chunk.report)
        return f"【{info.label if info is not None else chunk.title}】"

    return label


def _department_overview(dept: str, hits: list[Hit], citations: list[Citation], label=lambda chunk: "") -> str:
    """"城管局做了什么": the first clause of each cited item, in the report's order; one list per report
    (the items of two reports are never spliced into one list), each named by its report."""
    by_report: dict[str, list[int]] = {}
    for n, h in enumerate(hits):
        if h.chunk.kind == "item" and h.chunk.dept == dept:
            by_report.setdefault(h.chunk.report, []).append(n)
    if by_report:  # a report whose cited passages of the department are no numbered items: its best one
        for n, h in enumerate(hits):
            if h.chunk.dept == dept and h.chunk.kind != "overview" and h.chunk.clauses:
                by_report.setdefault(h.chunk.report, [n])
    lists = []
    for numbers in by_report.values():
        parts = []
        for n in sorted(numbers, key=lambda n: (hits[n].chunk.start)):
            first = hits[n].chunk.clauses[0]
            citations[n].highlights = [first]
            clause = hits[n].chunk.text[first[0] - hits[n].chunk.start:first[1] - hits[n].chunk.start]
            parts.append(f"{clause.rstrip('。；;，, ')}[{n + 1}]")
        lists.append(f"{label(hits[numbers[0]].chunk)}{dept}的工作要点：" + "；".join(parts) + "。")
    return "\n".join(lists)


def mentions(terms: list[str], text: str) -> bool:
    """Whether ``text`` has a topic word, or a two-character part of a longer one (亚运会 -> 亚运)."""
    return any(t in text or (len(t) >= 3 and any(t[i:i + 2] in text for i in range(len(t) - 1))) for t in terms)


def _answer_hits(query: Query, hits: list[Hit]) -> list[int]:
    """Which hits the answer text quotes: the best one, one per department (of each report) for
    cross-department questions, or one per report when a department several reports have is named."""
    if query.multi or len(query.depts) > 1:
        top = hits[0].score
        chosen, seen = [], set()
        for n, hit in enumerate(hits):
            key = (hit.chunk.report, hit.chunk.dept)
            if key in seen or (n and not mentions(query.terms, hit.chunk.text) and hit.score < 0.6 * top):
                continue
            seen.add(key)
            chosen.append(n)
        return chosen[:5] or [0]
    if len(query.hard_depts) == 1 and not query.reports:
        chosen, seen = [], set()
        for n, hit in enumerate(hits):
            if hit.chunk.dept == query.hard_depts[0] and hit.chunk.report not in seen:
                seen.add(hit.chunk.report)
                chosen.append(n)
        if len(chosen) > 1:
            return chosen
    return [0]
