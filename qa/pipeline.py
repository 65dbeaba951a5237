"""The one entry point the CLI, the API and the UI share: ``ReportQA.ask`` / ``ReportQA.search``.

Nothing loads at import or construction time; the index and the encoder
load on first use, once, and are reused for every later question.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from qa.answer import Answer, build_answer
from qa.config import Settings
from qa.index import ReportIndex
from qa.retrieve import MODES, Hit, Retriever, find_departments

MAX_QUESTION_CHARS = 500
MAX_K = 20
_FOLLOWUP = re.compile(r"^(那|那么|那个|还有|另外|再|它|他们|其|该局)|[呢吗么]\s*[？?]?\s*$")


class QuestionError(ValueError):
    """Bad user input; the message is shown to the user as is (Chinese / English)."""


@dataclass
class Turn:
    """One earlier exchange of a chat, as the caller's history holds it."""

    question: str
    answer: str = ""


def validate_question(question: object) -> str:
    if not isinstance(question, str):
        raise QuestionError("问题必须是文本 / the question must be a string")
    question = question.strip()
    if not question:
        raise QuestionError("问题不能为空 / the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"问题过长（{len(question)} 字，上限 {MAX_QUESTION_CHARS} 字）/ "
            f"the question is too long ({len(question)} characters, limit {MAX_QUESTION_CHARS})"
        )
    return question


def validate_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QuestionError(f"k 必须是 1 到 {MAX_K} 的整数 / k must be an integer from 1 to {MAX_K}")
    return k


class ReportQA:
    """Question answering over one index. ``encoder="onnx"`` (default) or ``"sentence-transformers"``."""

    def __init__(self, settings: Settings | None = None, mode: str = "hybrid", encoder: str = "onnx",
                 check_model: bool = True):
        if mode not in MODES:
            raise ValueError(f"unknown retriever {mode!r}; choose from {', '.join(MODES)}")
        self.settings = settings or Settings.from_env()
        self.mode = mode
        self.encoder_kind = encoder
        self.check_model = check_model
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lazy loading

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            with self._lock:
                if self._retriever is None:
                    self._retriever = self._load()
        return self._retriever

    def _load(self) -> Retriever:
        from qa.model import check_model_dir, weights_sha256

        model_sha = None
        if self.check_model:
            check_model_dir(self.settings.model_dir)
            model_sha = weights_sha256(self.settings.model_dir, self.settings.cache_dir)
        index = ReportIndex.load(self.settings.index_dir, self.settings, model_sha)
        index.tokenizer.load()
        if self.encoder_kind == "onnx":
            from qa.encoder import OnnxEncoder

            encoder = OnnxEncoder(Path(self.settings.index_dir) / "encoder")
        else:
            from qa.encoder import SentenceTransformerEncoder

            encoder = SentenceTransformerEncoder(self.settings.model_dir)
        return Retriever(index, encoder, mode=self.mode)

    @property
    def index(self) -> ReportIndex:
        return self.retriever.index

    @property
    def departments(self) -> list[str]:
        return self.index.departments

    def check_dept(self, dept: str | None) -> str | None:
        """The canonical department for a name or alias; ``None`` for all. Unknown names raise."""
        if dept is None or not str(dept).strip() or str(dept).strip() in ("全部", "all"):
            return None
        dept = str(dept).strip()
        if dept in self.index.departments:
            return dept
        if dept in self.index.aliases:
            return self.index.aliases[dept]
        raise QuestionError(
            f"未知部门：{dept}。可选：{'、'.join(self.index.departments)} / unknown department {dept!r}"
        )

    @property
    def reports(self) -> list[dict]:
        """The library: one entry per report (id, title, district, year, file, format, layout, passages)."""
        return [{"id": r.id, "title": r.title, "district": r.district, "year": r.year, "file": r.source,
                 "format": r.format, "layout": r.layout, "passages": r.passages, "departments": r.departments}
                for r in self.index.reports]

    def check_report(self, report: str | None) -> str | None:
        """The report id for an id, file name, title or district; ``None`` for all. Unknown or ambiguous raise."""
        if report is None or not str(report).strip() or str(report).strip() in ("全部", "all"):
            return None
        name = str(report).strip()
        if len(name) > 200:
            raise QuestionError("报告名称过长 / the report name is too long")
        infos = self.index.reports
        for field_name in ("id", "source", "title"):
            found = [r.id for r in infos if getattr(r, field_name) == name]
            if found:
                return found[0]
        found = [r.id for r in infos if r.district and name in (r.district, r.district[:-1])]
        if len(found) == 1:
            return found[0]
        choices = "、".join(r.id for r in infos)
        if found:
            raise QuestionError(f"{name} 有多份报告，请指明：{'、'.join(found)} / {name!r} matches several reports")
        raise QuestionError(f"未知报告：{name}。可选：{choices} / unknown report {name!r}")

    def paragraph(self, chunk_id: str) -> dict:
        """The whole section a passage belongs to (its department, or its heading), for "read in full":
        every passage of it and the section's text from the report's extracted text."""
        if not isinstance(chunk_id, str) or chunk_id not in self.index.position:
            raise QuestionError(f"未知段落：{chunk_id} / unknown passage id")
        index = self.index
        chunk = index.chunks[index.position[chunk_id]]
        if chunk.dept:
            parts = [c for c in index.chunks if c.report == chunk.report and c.dept == chunk.dept]
        else:
            # the numbered item (1. / （1）) a passage sits in is part of its section, not the section itself
            path = chunk.section[:-1] if chunk.section and chunk.item_label == chunk.section[-1] else chunk.section
            parts = [c for c in index.chunks if c.report == chunk.report and c.section[:len(path)] == path
                     and (path or not c.section)]
        try:
            text = index.report_text(chunk.report)[parts[0].start:parts[-1].end]
        except (KeyError, OSError):
            text = "\n\n".join(c.text for c in parts)
        info = index.report_by_id.get(chunk.report)
        return {"id": chunk.id, "source": chunk.source, "dept": chunk.dept, "headline": chunk.headline,
                "title": chunk.title, "report": info.title if info else chunk.title, "report_id": chunk.report,
                "section": chunk.section, "text": text,
                "items": [{"id": c.id, "item_no": c.item_no, "label": c.item_label, "text": c.text} for c in parts]}

    # ------------------------------------------------------------ questions

    def resolve_followup(self, question: str, history: list[Turn] | None) -> str:
        """Rewrite an elliptical follow-up ("那民政局呢？") using the last question of this chat."""
        if not history:
            return question
        previous = history[-1].question
        aliases = self.index.aliases
        prev_depts = find_departments(previous, aliases)
        new_depts = find_departments(question, aliases)
        terms = self.index.tokenizer.content_terms(question)
        if new_depts and not terms and prev_depts and _FOLLOWUP.search(question):
            rewritten = previous
            for alias in sorted(aliases, key=len, reverse=True):
                if aliases[alias] in prev_depts and alias in rewritten:
                    rewritten = rewritten.replace(alias, new_depts[0])
                    break
            return rewritten
        if not new_depts and prev_depts and terms and (_FOLLOWUP.search(question) or len(question) <= 8):
            return f"{prev_depts[0]}{question}"
        return question

    def search(self, question: str, k: int = 10, dept: str | None = None, report: str | None = None) -> list[Hit]:
        question = validate_question(question)
        return self.retriever.search(question, validate_k(k), self.check_dept(dept), self.check_report(report))

    def ask(self, question: str, k: int = 5, dept: str | None = None,
            history: list[Turn] | None = None, report: str | None = None) -> Answer:
        """Answer one question with at most ``k`` citations, or abstain; ``report`` restricts to one report."""
        asked = validate_question(question)
        k = validate_k(k)
        dept = self.check_dept(dept)
        report = self.check_report(report)
        resolved = self.resolve_followup(asked, history)
        retriever = self.retriever
        query = retriever.analyze(resolved)
        if report:
            query.reports = [report]  # the chosen report: search and evidence are confined to it
        hits = retriever.search(query, k, dept, report)
        answer = build_answer(query, hits, self.index)
        answer.question = asked
        return answer
