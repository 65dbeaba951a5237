"""The one entry point the CLI, the API and the UI share: ``ReportQA.ask`` / ``ReportQA.search``.

Nothing loads at import or construction time; the index and the encoder
load on first use, once, and are reused for every later question.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from qa.answer import Answer, build_answer
from qa.config import Settings
from qa.index import ReportIndex
from qa.notices import scope_notices
from qa.followup import Resolution, resolve as resolve_question
from qa.retrieve import MODES, Hit, Retriever, asks_across_departments, find_departments
from qa.smalltalk import small_talk_reply

MAX_QUESTION_CHARS = 500
MAX_K = 20
# Shown in the help text small talk gets (see qa/smalltalk.py); the chat UI shows them as examples too.
EXAMPLE_QUESTIONS = ["城管局在垃圾分类上做什么", "哪些部门提到了重要窗口", "让外迁的企业回来", "城中村改造什么时候全部完成"]


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

    def paragraph(self, chunk_id: str) -> dict:
        """The whole department section a chunk belongs to (lead-in and every item), for "read in full"."""
        if chunk_id not in self.index.position:
            raise QuestionError(f"未知段落：{chunk_id} / unknown passage id")
        chunk = self.index.chunks[self.index.position[chunk_id]]
        parts = [c for c in self.index.chunks if c.source == chunk.source and c.dept == chunk.dept]
        return {"id": chunk.id, "source": chunk.source, "dept": chunk.dept, "headline": chunk.headline,
                "title": chunk.title, "items": [{"id": c.id, "item_no": c.item_no, "label": c.item_label,
                                                 "text": c.text} for c in parts]}

    # ------------------------------------------------------------ questions

    def resolve_followup(self, question: str, history: list[Turn] | None) -> str:
        """The question as understood in this chat: an elliptical follow-up ("那民政局呢？") completed from
        the earlier turns (see ``qa.followup``); any other question unchanged."""
        return self.understand(question, history).question

    def understand(self, question: str, history: list[Turn] | None) -> Resolution:
        if not history:
            return Resolution(question)
        index = self.index
        return resolve_question(
            question, [t.question for t in history],
            find_depts=lambda text: find_departments(text, index.aliases),
            topic_terms=index.tokenizer.content_terms, aliases=index.aliases,
            multi=asks_across_departments, has_noun=index.tokenizer.has_noun,
        )

    def search(self, question: str, k: int = 10, dept: str | None = None) -> list[Hit]:
        question = validate_question(question)
        return self.retriever.search(question, validate_k(k), self.check_dept(dept))

    def ask(self, question: str, k: int = 5, dept: str | None = None,
            history: list[Turn] | None = None) -> Answer:
        """Answer one question with at most ``k`` citations, or abstain."""
        asked = validate_question(question)
        k = validate_k(k)
        dept = self.check_dept(dept)
        greeting = small_talk_reply(asked, EXAMPLE_QUESTIONS)
        if greeting:
            return Answer(asked, greeting, True, [], kind="greeting")
        resolved = self.resolve_followup(asked, history)
        retriever = self.retriever
        query = retriever.analyze(resolved)
        hits = retriever.search(query, k, dept)
        answer = build_answer(query, hits, self.index)
        answer.question = asked
        if resolved != asked:
            answer.understood_as = resolved
        # also on abstentions: "区住建局 says nothing on 养老; 区民政局 does" is what a refused dept-scope question needs
        answer.notices = scope_notices(retriever, query, hits, dept)
        if answer.abstained:
            answer.kind = "abstained"
        return answer
