"""Question files for ``qa eval``: the JSONL format of /work/staging/GOLD_FORMAT.md, parsed and checked.

One object per line::

    {"id": "s-001", "type": "paraphrase", "q": "...", "dept": ["区城管局"], "must": ["垃圾分类"]}
    {"id": "s-050", "type": "multi-department", "q": "...", "multi": ["区民政局", "区数据资源局"]}
        (optional "must" here too: a department counts only when its cited passage contains one of them)
    {"id": "l-030", "type": "cross-report", "q": "...", "dept": ["区商务局"], "reports": ["stemA", "stemB"]}
    {"id": "s-120", "type": "none-absent", "q": "...", "none": true}

Optional on every line: "note" (free text), "history" (earlier questions of the chat, oldest first),
"report" (the file stem the answer must come from). Lines of the first gold set carry neither "id" nor
"type": they get the id FILE-STEM:LINE and a type from their shape ("legacy-dept", "legacy-multi",
"legacy-none"). Any other field, or a field of the wrong shape, stops the load with FILE:LINE.

``check_against_corpus`` checks a file against the reports (departments exist, each "must" is copied
verbatim from a passage of that department); it needs no model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# The question families this project's own files use ("none-*" are unanswerable). Any other label is accepted.
ANSWERABLE_TYPES = ("lexical", "paraphrase", "colloquial", "alias", "multi-department", "follow-up",
                    "report-named", "cross-report")
UNANSWERABLE_TYPES = ("none-absent", "none-dept-scope", "none-statistic", "none-elsewhere", "none-chitchat")
LEGACY_TYPES = ("legacy-dept", "legacy-multi", "legacy-none")
TYPES = ANSWERABLE_TYPES + UNANSWERABLE_TYPES + LEGACY_TYPES
KINDS = ("single", "multi", "reports", "none")  # how a question is scored
FIELDS = {"id", "type", "q", "note", "history", "dept", "must", "multi", "report", "reports", "none"}
MAX_QUESTION_CHARS = 500
MAX_HISTORY = 20
MAX_TYPE_CHARS = 60


class GoldSetError(ValueError):
    """A malformed question line: the message names FILE:LINE."""


@dataclass
class Cited:
    """One ranked citation as the evaluation sees it."""

    id: str
    source: str  # file name of the report, e.g. "gongshu-departments-plenum-2020.md"
    dept: str  # a passage outside any department (a report's opening, a work report) is under its report's title
    text: str

    @property
    def report(self) -> str:
        return Path(self.source).stem


@dataclass
class GoldQuestion:
    q: str
    kind: str  # one of KINDS
    type: str = ""
    id: str = ""
    note: str = ""
    history: list[str] = field(default_factory=list)
    dept: list[str] = field(default_factory=list)
    must: list[str] = field(default_factory=list)
    multi: list[str] = field(default_factory=list)
    report: str = ""
    reports: list[str] = field(default_factory=list)
    file: str = ""
    line: int = 0

    @property
    def answerable(self) -> bool:
        return self.kind != "none"

    def relevant(self, dept: str, text: str, source: str = "") -> bool:
        """Whether a citation answers a single-answer question (right report, department and words)."""
        if self.report and Path(source).stem != self.report:
            return False
        if self.dept and dept not in self.dept:
            return False
        return not self.must or any(m in text for m in self.must)

    def cited_relevant(self, cited: Cited) -> bool:
        return self.relevant(cited.dept, cited.text, cited.source)

    def recall(self, top: list[Cited]) -> float:
        """For "multi" / "reports": the share of the required departments / reports cited in ``top``."""
        if self.kind == "multi":
            found = {c.dept for c in top if (not self.report or c.report == self.report)
                     and (not self.must or any(m in c.text for m in self.must))}
            return sum(d in found for d in self.multi) / len(self.multi)
        if self.kind == "reports":
            found = {c.report for c in top if (not self.dept or c.dept in self.dept)
                     and (not self.must or any(m in c.text for m in self.must))}
            return sum(r in found for r in self.reports) / len(self.reports)
        raise ValueError(f"recall is for multi / reports questions, not {self.kind}")

    @property
    def expected(self) -> str:
        where = f"[{self.report}] " if self.report else ""
        if self.kind == "single":
            return f"{where}{'/'.join(self.dept) or '*'} ∋ {'|'.join(self.must) or '*'}"
        if self.kind == "multi":
            return f"{where}all of " + "、".join(self.multi) + (f" ∋ {'|'.join(self.must)}" if self.must else "")
        if self.kind == "reports":
            return f"{'/'.join(self.dept) or '*'} in each of " + "、".join(self.reports)
        return "abstain"

    def to_json(self) -> dict:
        """The line this question was read from, normalised (id and type filled in)."""
        out: dict = {"id": self.id, "type": self.type, "q": self.q}
        if self.history:
            out["history"] = self.history
        if self.report:
            out["report"] = self.report
        if self.kind == "none":
            out["none"] = True
        elif self.kind == "multi":
            out["multi"] = self.multi
            if self.must:
                out["must"] = self.must
        else:
            if self.dept:
                out["dept"] = self.dept
            if self.must:
                out["must"] = self.must
            if self.reports:
                out["reports"] = self.reports
        if self.note:
            out["note"] = self.note
        return out


def _str_list(value, where: str, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise GoldSetError(f"{where}: {name!r} must be a non-empty list of strings")
    return [v.strip() for v in value]


def _text(obj: dict, name: str, where: str) -> str:
    value = obj.get(name, "")
    if not isinstance(value, str):
        raise GoldSetError(f'{where}: "{name}" must be a string')
    return value.strip()


def _kind(obj: dict, where: str) -> str:
    if obj.get("none", False) is not False:
        if obj["none"] is not True:
            raise GoldSetError(f'{where}: "none" must be true')
        clash = sorted({"dept", "must", "multi", "reports"} & set(obj))
        if clash:
            raise GoldSetError(f'{where}: an unanswerable ("none") question takes none of {clash}')
        return "none"
    if "multi" in obj:
        clash = sorted({"dept", "reports"} & set(obj))
        if clash:
            raise GoldSetError(f'{where}: a "multi" question takes none of {clash}')
        return "multi"
    if "reports" in obj:
        return "reports"
    if "dept" in obj or "must" in obj:
        return "single"
    raise GoldSetError(f'{where}: give "dept" and/or "must", "multi", "reports" or "none": true')


_TYPE_KINDS = {"multi-department": ("multi",), "cross-report": ("reports",),
               "legacy-dept": ("single",), "legacy-multi": ("multi",), "legacy-none": ("none",)}


def _check_type(qtype: str, kind: str, history: list[str], where: str) -> None:
    """``type`` is the evaluator's own label (metrics are reported per label); answerable or not is the ``none``
    field's. Only the labels this project's own files use carry a shape: multi-department needs ``multi``,
    cross-report ``reports``, follow-up ``history``."""
    if not qtype or len(qtype) > MAX_TYPE_CHARS or not qtype.isprintable():
        raise GoldSetError(f'{where}: "type" must be a label of 1 to {MAX_TYPE_CHARS} printable characters')
    if qtype in _TYPE_KINDS and kind not in _TYPE_KINDS[qtype]:
        raise GoldSetError(f"{where}: type {qtype!r} needs {'/'.join(_TYPE_KINDS[qtype])} fields, found {kind}")
    if qtype == "follow-up" and not history:
        raise GoldSetError(f'{where}: a follow-up question needs "history"')


def parse_gold_line(text: str, where: str) -> GoldQuestion:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise GoldSetError(f"{where}: not valid JSON ({exc.args[0]})") from exc
    if not isinstance(obj, dict):
        raise GoldSetError(f"{where}: expected a JSON object")
    unknown = set(obj) - FIELDS
    if unknown:
        raise GoldSetError(f"{where}: unknown field(s) {sorted(unknown)}")
    q = obj.get("q")
    if not isinstance(q, str) or not q.strip():
        raise GoldSetError(f'{where}: "q" must be a non-empty string')
    if len(q) > MAX_QUESTION_CHARS:
        raise GoldSetError(f'{where}: "q" is longer than {MAX_QUESTION_CHARS} characters')
    kind = _kind(obj, where)
    history = _str_list(obj["history"], where, "history") if "history" in obj else []
    if len(history) > MAX_HISTORY:
        raise GoldSetError(f'{where}: "history" holds more than {MAX_HISTORY} questions')
    if "type" in obj:
        qtype = _text(obj, "type", where)
    else:
        qtype = {"single": "legacy-dept", "multi": "legacy-multi", "none": "legacy-none"}.get(kind, "")
        if not qtype:
            raise GoldSetError(f'{where}: a "reports" question needs "type": "cross-report"')
    _check_type(qtype, kind, history, where)
    question = GoldQuestion(q.strip(), kind, type=qtype, id=_text(obj, "id", where), note=_text(obj, "note", where),
                            history=history, report=_text(obj, "report", where))
    if "id" in obj and not question.id:
        raise GoldSetError(f'{where}: "id" must be a non-empty string')
    if "report" in obj and not question.report:
        raise GoldSetError(f'{where}: "report" must be a non-empty file stem')
    if kind == "multi":
        question.multi = _str_list(obj["multi"], where, "multi")
        question.must = _str_list(obj["must"], where, "must") if "must" in obj else []
    elif kind in ("single", "reports"):
        question.dept = _str_list(obj["dept"], where, "dept") if "dept" in obj else []
        question.must = _str_list(obj["must"], where, "must") if "must" in obj else []
        if kind == "reports":
            if question.report:
                raise GoldSetError(f'{where}: give "report" or "reports", not both')
            question.reports = _str_list(obj["reports"], where, "reports")
    return question


def load_gold(path: Path) -> list[GoldQuestion]:
    """Every line of ``path`` parsed; the first bad line raises GoldSetError naming FILE:LINE."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise GoldSetError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise GoldSetError(f"{path}: is a folder, not a question file") from exc
    except UnicodeDecodeError as exc:
        raise GoldSetError(f"{path}: not UTF-8") from exc
    questions = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            question = parse_gold_line(line, f"{path}:{n}")
            question.file, question.line = str(path), n
            question.id = question.id or f"{path.stem}:{n}"
            questions.append(question)
    if not questions:
        raise GoldSetError(f"{path}: no questions")
    return questions


def load_gold_files(paths: list[Path]) -> list[GoldQuestion]:
    """Several question files as one set; an id used twice stops the load, naming both places."""
    questions: list[GoldQuestion] = []
    seen: dict[str, str] = {}
    for path in paths:
        for question in load_gold(path):
            where = f"{question.file}:{question.line}"
            if question.id in seen:
                raise GoldSetError(f"{where}: id {question.id!r} already used at {seen[question.id]}")
            seen[question.id] = where
            questions.append(question)
    return questions


# ---------------------------------------------------------------- checks against the reports


def check_against_corpus(questions: list[GoldQuestion], corpus) -> dict[str, list[str]]:
    """Problems per question id: unknown report stem or department, a "must" found in no passage of its
    department (and report). Only definite errors are listed; an empty dict means the file is usable."""
    chunks = list(corpus.chunks)  # overview passages too: their "department" is the report title
    stems = {Path(r.source).stem for r in corpus.reports}
    depts = {c.dept or c.title for c in chunks}
    problems: dict[str, list[str]] = {}

    def scope(report: str, dept_names: list[str]):
        return [c for c in chunks if (not report or Path(c.source).stem == report)
                and (not dept_names or (c.dept or c.title) in dept_names)]

    for g in questions:
        found: list[str] = []
        for stem in ([g.report] if g.report else []) + g.reports:
            if stem not in stems:
                found.append(f"unknown report {stem!r}")
        for dept in g.dept + g.multi:
            if dept not in depts:
                found.append(f"unknown department {dept!r}")
        if not found and g.kind == "single" and g.must:
            passages = scope(g.report, g.dept)
            if not any(m in c.text for m in g.must for c in passages):
                found.append(f"no passage of {'/'.join(g.dept) or 'the corpus'} contains any of {g.must}")
        if not found and g.kind == "multi":
            for dept in g.multi:
                passages = scope(g.report, [dept])
                if not passages or (g.must and not any(m in c.text for m in g.must for c in passages)):
                    found.append(f"{dept} has no passage{' in ' + g.report if g.report else ''} with {g.must or '*'}")
        if not found and g.kind == "reports":
            for stem in g.reports:
                passages = scope(stem, g.dept)
                if not passages or (g.must and not any(m in c.text for m in g.must for c in passages)):
                    found.append(f"report {stem!r} has no passage of {'/'.join(g.dept) or '*'} with {g.must or '*'}")
        if found:
            problems[g.id] = found
    return problems
