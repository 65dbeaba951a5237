"""The one entry point the CLI, the API and the UI share: ``ReportQA.ask`` / ``ReportQA.search``.

Nothing loads at import or construction time; the index and the encoder
load on first use, once, and are reused for every later question.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from qa.answer.abstain import model_fingerprint
from qa.answer.extractive import Answer, build_answer
from qa.answer.followup import Resolution, resolve as resolve_question
from qa.answer.notices import scope_notices
from qa.answer.smalltalk import small_talk_reply
from qa.config import ConfigError, Settings
from qa.reader.model import reader_fingerprint
from qa.reader.rerank import RERANK_DEPTH, rerank
from qa.search.index import MANIFEST, IndexUnusable, ReportIndex
from qa.search.places import gazetteer, library_places
from qa.search.retrieve import MODES, Hit, Retriever, asks_across_departments, find_departments

MAX_QUESTION_CHARS = 500  # after normalisation and stripping
MAX_RAW_CHARS = 20 * MAX_QUESTION_CHARS  # before: longer input is refused without being looked at
MAX_K = 20
# Shown in the help text small talk gets (see qa/answer/smalltalk.py); the chat UI shows them as examples too.
EXAMPLE_QUESTIONS = ["城管局在垃圾分类上做什么", "哪些部门提到了重要窗口", "让外迁的企业回来", "城中村改造什么时候全部完成"]
MAX_HISTORY_TURNS = 50
MAX_ANSWER_CHARS = 20_000  # an earlier answer quoted back in ``history``
RELOAD_CHECK_SECONDS = 1.0  # how often a running ReportQA looks for a rebuilt index
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
BIDI_CONTROLS = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # U+202E … reorder what is shown


def answer_models() -> dict[str, dict]:
    """Fingerprints ({version, sha256}) of the answer-stage models that read an index, by name: the manifest
    records them at build time, and an index built for other ones is stale."""
    return {"answer-or-abstain": model_fingerprint(), "reader": reader_fingerprint()}


def place_names(text: str, reports) -> list[str]:
    """The library's district names in ``text`` (临江区, or the short 临江), longest first, each once."""
    found, masked = [], text
    for name in sorted(library_places(reports), key=len, reverse=True):
        if name in masked:
            found.append(name)
            masked = masked.replace(name, "\0")
    return found


def _keeps_order(query, dept: str | None) -> bool:
    """Questions across departments keep the retriever's one-passage-per-department order."""
    return query.multi or (len(query.depts) > 1 and not dept)


class QuestionError(ValueError):
    """Bad user input; the message is shown to the user as is (Chinese / English)."""


@dataclass
class Turn:
    """One earlier exchange of a chat, as the caller's history holds it."""

    question: str
    answer: str = ""


def normalise_text(text: str) -> str:
    """Text any later step can handle: lone surrogates (undecodable bytes, ``"\\ud800"`` in JSON) become
    U+FFFD, bidirectional controls (U+202E …) are dropped, other control characters and line breaks become
    spaces, then Unicode NFC. Linear in ``len(text)``."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return unicodedata.normalize("NFC", _CONTROL.sub(" ", BIDI_CONTROLS.sub("", text)))


def _too_long(what: str, length: int, limit: int) -> QuestionError:
    return QuestionError(f"{what[0]}过长（{length} 字，上限 {limit} 字）/ "
                         f"{what[1]} is too long ({length} characters, limit {limit})")


def validate_question(question: object) -> str:
    if not isinstance(question, str):
        raise QuestionError("问题必须是文本 / the question must be a string")
    if len(question) > MAX_RAW_CHARS:
        raise _too_long(("问题", "the question"), len(question), MAX_QUESTION_CHARS)
    question = normalise_text(question).strip()
    if not question:
        raise QuestionError("问题不能为空 / the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise _too_long(("问题", "the question"), len(question), MAX_QUESTION_CHARS)
    return question


def validate_history(history: object) -> list[Turn]:
    """At most ``MAX_HISTORY_TURNS`` turns, each question and answer bounded and normalised."""
    if not history:
        return []
    if not isinstance(history, (list, tuple)) or not all(isinstance(t, Turn) for t in history):
        raise QuestionError("对话历史格式错误 / history must be a list of turns")
    if len(history) > MAX_HISTORY_TURNS:
        raise QuestionError(f"对话历史过长（{len(history)} 轮，上限 {MAX_HISTORY_TURNS} 轮），请清空对话 / "
                            f"history has {len(history)} turns, limit {MAX_HISTORY_TURNS}")
    turns = []
    for turn in history:
        if not isinstance(turn.question, str) or not isinstance(turn.answer, str):
            raise QuestionError("对话历史格式错误 / history turns hold text")
        if len(turn.question) > MAX_RAW_CHARS or len(turn.answer) > MAX_ANSWER_CHARS:
            raise _too_long(("对话历史", "a history turn"), max(len(turn.question), len(turn.answer)),
                            MAX_QUESTION_CHARS if len(turn.question) > MAX_RAW_CHARS else MAX_ANSWER_CHARS)
        question = normalise_text(turn.question).strip()
        if len(question) > MAX_QUESTION_CHARS:
            raise _too_long(("对话历史中的问题", "a history question"), len(question), MAX_QUESTION_CHARS)
        turns.append(Turn(question, turn.answer))  # earlier answers are bounded above but never read: not normalised
    return turns


def validate_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QuestionError(f"k 必须是 1 到 {MAX_K} 的整数 / k must be an integer from 1 to {MAX_K}")
    return k


def _onnx_encoder(index: ReportIndex):
    """The index's own ONNX query encoder (same version folder); any failure is an unusable index."""
    from qa.search.encoder import OnnxEncoder

    folder = Path(index.directory or "") / "encoder"
    try:
        encoder = OnnxEncoder(folder)
        dim = encoder.encode(["维度检查"]).shape[1]
    except ConfigError:
        raise  # a setting to fix (REPORT_QA_ONNX_THREADS), not an index to rebuild
    except Exception as exc:  # onnxruntime and tokenizers raise their own exception types
        raise IndexUnusable(f"the query encoder in {folder} cannot be loaded ({type(exc).__name__}: "
                            f"{str(exc)[:300]}). Rebuild: `python -m qa build`.") from exc
    if dim != index.manifest.dim:
        raise IndexUnusable(f"the query encoder in {folder} gives {dim}-d vectors, the index holds "
                            f"{index.manifest.dim}-d ones. Rebuild: `python -m qa build`.")
    return encoder


class ReportQA:
    """Question answering over one index. ``encoder="onnx"`` (default) or ``"sentence-transformers"``.
    ``rerank=False`` keeps the retriever's order (the reader still scores the passages for answer-or-abstain):
    the evaluation's "before the reader" row."""

    def __init__(self, settings: Settings | None = None, mode: str = "hybrid", encoder: str = "onnx",
                 check_model: bool = True, hot_reload: bool = True, rerank: bool = True):
        if mode not in MODES:
            raise ValueError(f"unknown retriever {mode!r}; choose from {', '.join(MODES)}")
        self.settings = settings or Settings.from_env()
        self.mode = mode
        self.encoder_kind = encoder
        self.check_model = check_model
        self.hot_reload = hot_reload
        self.rerank = rerank
        self._retriever: Retriever | None = None
        self._reader = None
        self._lock = threading.Lock()
        self._pin = threading.local()  # the retriever one request uses from start to end
        self._stamp: tuple | None = None  # identity of the index the current retriever was loaded from
        self._checked_at = 0.0
        self._reloading = False
        self.loaded_at = ""
        self.reload_error = ""  # why the last rebuilt index was refused (the old one keeps serving)

    # ------------------------------------------------------------ lazy loading and hot reload

    @property
    def retriever(self) -> Retriever:
        pinned = getattr(self._pin, "retriever", None)
        if pinned is not None:
            return pinned
        if self._retriever is None:
            with self._lock:
                if self._retriever is None:
                    self._stamp = self.index_stamp()
                    self._retriever = self._load()
                    self.loaded_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        elif self.hot_reload:
            self._check_for_new_index()
        return self._retriever

    @contextmanager
    def pinned(self):
        """Use one retriever for a whole request: a hot reload swaps it for later requests only."""
        if getattr(self._pin, "retriever", None) is not None:
            yield self._pin.retriever
            return
        self._pin.retriever = self.retriever
        try:
            yield self._pin.retriever
        finally:
            self._pin.retriever = None

    def index_stamp(self) -> tuple | None:
        """Cheap identity of the index on disk: the ``current`` link target and the manifest's inode/mtime."""
        directory = Path(self.settings.index_dir)
        try:
            target = os.readlink(directory) if directory.is_symlink() else ""
            st = os.stat(directory / MANIFEST)
        except OSError:
            return None
        return target, st.st_ino, st.st_mtime_ns, st.st_size

    def _check_for_new_index(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < RELOAD_CHECK_SECONDS or self._reloading:
            return
        self._checked_at = now
        stamp = self.index_stamp()
        if stamp is None or stamp == self._stamp:
            return
        with self._lock:
            if self._reloading:
                return
            self._reloading = True
        threading.Thread(target=self.reload, args=(stamp,), name="index-reload", daemon=True).start()

    def reload(self, stamp: tuple | None = None) -> bool:
        """Load the index on disk completely, then swap it in; on failure keep serving the old one."""
        from qa.search.model import ModelMissingError

        stamp = stamp or self.index_stamp()
        try:
            retriever = self._load()
        except (IndexUnusable, ModelMissingError, OSError, ValueError) as exc:
            self.reload_error = str(exc)
            print(f"report-qa: rebuilt index refused, still serving the previous one: {exc}", file=sys.stderr)
            with self._lock:
                self._stamp, self._reloading = stamp, False
            return False
        with self._lock:
            self._retriever, self._stamp, self._reloading = retriever, stamp, False
            self.loaded_at, self.reload_error = time.strftime("%Y-%m-%dT%H:%M:%S%z"), ""
        print(f"report-qa: switched to the index built {retriever.index.manifest.built_at}", file=sys.stderr)
        return True

    def _load(self) -> Retriever:
        from qa.search.model import check_model_dir, weights_sha256

        model_sha = None
        if self.check_model:
            check_model_dir(self.settings.model_dir)
            model_sha = weights_sha256(self.settings.model_dir, self.settings.cache_dir)
        index = ReportIndex.load(self.settings.index_dir, self.settings, model_sha, answer_models())
        index.tokenizer.load()
        if self._reader is None:
            self._reader = self._load_reader(model_sha)
        gazetteer()  # jieba's place names, read once here rather than on the first question
        if self.encoder_kind == "onnx":
            encoder = _onnx_encoder(index)
        else:
            from qa.search.encoder import SentenceTransformerEncoder

            encoder = SentenceTransformerEncoder(self.settings.model_dir)
        return Retriever(index, encoder, mode=self.mode)

    def _load_reader(self, model_sha: str | None):
        """The reader's ONNX export for this base model (made at set-up); any failure names its fix."""
        from qa.reader.export import reader_folder
        from qa.reader.model import ReaderMissingError
        from qa.reader.score import OnnxReader
        from qa.search.model import weights_sha256

        folder = reader_folder(self.settings, model_sha or weights_sha256(self.settings.model_dir,
                                                                          self.settings.cache_dir))
        try:
            return OnnxReader(folder)
        except ConfigError:
            raise
        except Exception as exc:  # onnxruntime and tokenizers raise their own exception types
            raise ReaderMissingError(f"the reader in {folder} cannot be loaded ({type(exc).__name__}: "
                                     f"{str(exc)[:300]}). Fix: `make setup`.") from exc

    @property
    def reader(self):
        if self._reader is None:
            self.retriever  # loads the reader with the index
        if self._reader is None:  # a retriever given from outside (tests/stub.py): the reader on its own
            with self._lock:
                if self._reader is None:
                    self._reader = self._load_reader(None)
        return self._reader

    def ranked(self, retriever: Retriever, query, k: int, dept: str | None = None,
               report: str | None = None) -> list[Hit]:
        """The top ``k`` passages for an analysed question: the retriever's ``RERANK_DEPTH`` candidates read by
        the reader, in the reader's order (unless ``rerank`` is off or the question asks across departments)."""
        hits = retriever.search(query, max(k, RERANK_DEPTH), dept, report)
        reorder = self.rerank and not _keeps_order(query, dept)
        return rerank(self.reader, query.text, hits, reorder=reorder)[:k]

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
        dept = normalise_text(str(dept)).strip()
        if len(dept) > MAX_QUESTION_CHARS:
            raise _too_long(("部门名", "the department"), len(dept), MAX_QUESTION_CHARS)
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
        with self.pinned() as retriever:
            index = retriever.index
            if not isinstance(chunk_id, str) or chunk_id not in index.position:
                shown = normalise_text(str(chunk_id))[:200]
                raise QuestionError(f"未知段落：{shown} / unknown passage id")
            chunk = index.chunks[index.position[chunk_id]]
            if chunk.dept:
                parts = [c for c in index.chunks if c.report == chunk.report and c.dept == chunk.dept]
            else:
                # the numbered item (1. / （1）) a passage sits in is part of its section, not the section itself
                # its own heading only, not the sections below it (an opening under the title would be the whole report)
                path = chunk.section[:-1] if chunk.section and chunk.item_label == chunk.section[-1] else chunk.section
                parts = [c for c in index.chunks if c.report == chunk.report and not c.dept
                         and (c.section == path or (c.section[:-1] == path and c.item_label == c.section[-1]))]
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
        """The question as understood in this chat: an elliptical follow-up ("那民政局呢？") completed from
        the earlier turns (see ``qa.answer.followup``); any other question unchanged."""
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
            find_places=lambda text: place_names(text, index.reports),
        )

    def search(self, question: str, k: int = 10, dept: str | None = None, report: str | None = None) -> list[Hit]:
        question = validate_question(question)
        k = validate_k(k)
        with self.pinned() as retriever:
            return self.ranked(retriever, retriever.analyze(question), k, self.check_dept(dept),
                               self.check_report(report))

    def _answer_elsewhere(self, retriever: Retriever, query, k: int, dept: str | None) -> Answer | None:
        """The report the question names does not answer: when another report of the library does, say so and
        answer from it ("临江区的报告没有提到…；拱墅区的报告中有：…") rather than refuse or pretend."""
        index = retriever.index
        named = list(query.reports)
        wider = replace(query, reports=[], prefer_reports=[])  # the same question, over the whole library
        hits = [h for h in self.ranked(retriever, wider, max(k, RERANK_DEPTH), dept) if h.chunk.report not in named]
        if not hits:
            return None
        found = build_answer(wider, hits[:k], index)
        if found.abstained:
            return None
        info = index.report_by_id
        others = [c.report_id for c in found.citations[:1]]
        # by district (临江区, 拱墅区); by title when the other report is of a district asked about (or has none)
        by_title = any(info[r].district in {info[n].district for n in named} for r in others)

        def label(ids: list[str]) -> str:
            return "、".join(dict.fromkeys(info[r].title if by_title or not info[r].district else info[r].district
                                           for r in ids))

        asked, other = label(named), label(others)
        found.answer = f"{asked}的报告没有提到这一问题；{other}的报告中有：\n{found.answer}"
        found.notices = [f"所问的{asked}报告中没有找到答案，以下内容来自{other}的报告 / "
                         f"the report asked about does not answer this; the passages below are from another report"]
        return found

    def ask(self, question: str, k: int = 5, dept: str | None = None,
            history: list[Turn] | None = None, report: str | None = None) -> Answer:
        """Answer one question with at most ``k`` citations, or abstain; ``report`` restricts to one report."""
        asked = validate_question(question)
        k = validate_k(k)
        history = validate_history(history)
        greeting = small_talk_reply(asked, EXAMPLE_QUESTIONS)
        if greeting:
            return Answer(asked, greeting, True, [], kind="greeting")
        with self.pinned() as retriever:
            dept = self.check_dept(dept)
            report = self.check_report(report)
            resolved = self.resolve_followup(asked, history)
            query = retriever.analyze(resolved)
            if report:
                query.reports = [report]  # the chosen report: search and evidence are confined to it
            hits = self.ranked(retriever, query, k, dept, report)
            answer = build_answer(query, hits, retriever.index)
            if answer.abstained and query.reports and not report and not query.foreign:
                # the question names a report (a report chosen in the UI is a filter the user set: it stays)
                answer = self._answer_elsewhere(retriever, query, k, dept) or answer
            answer.question = asked
            if resolved != asked:
                answer.understood_as = resolved
            # also on abstentions: "区住建局 says nothing on 养老; 区民政局 does" is what a refused dept-scope question needs
            if not query.foreign:  # outside the library: the refusal names why, a scope notice adds nothing
                answer.notices = answer.notices + [n for n in scope_notices(retriever, query, hits, dept)
                                                   if n not in answer.notices]
        if answer.abstained:
            answer.kind = "abstained"
        return answer
