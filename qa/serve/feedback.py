"""Feedback on answers: one bounded JSON line per vote, tied to the answer's id.

* Only answers the server gave can be rated: ``remember`` keeps the last ``MAX_REMEMBERED`` answers
  (id -> question, reading, answer, citation ids), and a vote names an id from that book.
* Every field is cleaned (whitespace collapsed; control characters, bidirectional controls such as
  U+202E and lone surrogates dropped) and cut to a bound, so one record is at most ``MAX_RECORD_BYTES``.
* A client may send ``RATE_LIMIT`` votes per ``RATE_WINDOW`` seconds; the same vote twice for the same
  answer from the same client is recorded once.
* The file rotates (``logging.handlers.RotatingFileHandler``: ``max_bytes`` × ``backups``), and each line
  is written with one ``os.write`` on an append-only descriptor; a failed or short write is cut back,
  so the log never keeps half a line. A full disk is reported in words, not as ``[Errno 28]``.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import logging.handlers
import os
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from qa.answer.extractive import Answer
from qa.config import FEEDBACK_TOKEN
from qa.pipeline import BIDI_CONTROLS, MAX_QUESTION_CHARS

VOTES = ("up", "down")
REASONS = ("错误", "不完整", "引用不对", "其他")
MAX_LOGGED_ANSWER_CHARS = 2000  # an answer is logged cut to this (the question: MAX_QUESTION_CHARS)
MAX_TEXT_CHARS = 500
MAX_CITATIONS = 20
MAX_ID_CHARS = 200
MAX_RECORD_BYTES = 16 * 1024
MAX_SCAN_CHARS = 2_000_000  # longer input is cut before cleaning
MAX_REMEMBERED = 5000
MAX_CLIENTS = 10000
RATE_LIMIT = 30
RATE_WINDOW = 60.0
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class FeedbackError(ValueError):
    """A vote that cannot be recorded; ``str()`` is shown to the user, ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def clean(text: object, limit: int) -> str:
    """One line of printable text, at most ``limit`` characters."""
    if not isinstance(text, str):
        return ""
    text = _SPACES.sub(" ", text[:MAX_SCAN_CHARS]).strip()  # padding collapses before the cut
    text = text[:limit].encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    return BIDI_CONTROLS.sub("", _CONTROL.sub("", text))


@dataclass
class Remembered:
    question: str
    understood_as: str | None
    answer: str
    citation_ids: list[str]


class _AppendOnlyRotatingHandler(logging.handlers.RotatingFileHandler):
    """The standard library's rotation, with whole-line appends (no half line after a failed write)."""

    def append_line(self, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        self.acquire()
        try:
            record = logging.makeLogRecord({"msg": line})
            if self.shouldRollover(record):
                self.doRollover()
            if self.stream is None:
                self.stream = self._open()
            self.stream.flush()
            fd = self.stream.fileno()
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, "short write")
            except OSError:
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
                raise
        finally:
            self.release()


class FeedbackLog:
    """The feedback file plus the book of recent answers it refers to. Thread-safe."""

    def __init__(self, path: Path, max_bytes: int = 5 * 1024 * 1024, backups: int = 5,
                 rate_limit: int = RATE_LIMIT, rate_window: float = RATE_WINDOW):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._answers: OrderedDict[str, Remembered] = OrderedDict()
        self._recent: OrderedDict[str, deque] = OrderedDict()
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        self._lock = threading.Lock()
        self._handler: _AppendOnlyRotatingHandler | None = None

    # ------------------------------------------------------------ answers

    def remember(self, answer: Answer) -> None:
        """Keep an answer (not an error, refusal or greeting) so a later vote can name it."""
        if answer.abstained or not answer.citations:
            return
        entry = Remembered(clean(answer.question, MAX_QUESTION_CHARS),
                           clean(answer.understood_as, MAX_QUESTION_CHARS) or None,
                           clean(answer.answer, MAX_LOGGED_ANSWER_CHARS),
                           [clean(c.id, MAX_ID_CHARS) for c in answer.citations[:MAX_CITATIONS]])
        with self._lock:
            self._answers[answer.id] = entry
            self._answers.move_to_end(answer.id)
            while len(self._answers) > MAX_REMEMBERED:
                self._answers.popitem(last=False)

    # ------------------------------------------------------------ votes

    def _check_rate(self, client: str, now: float) -> None:
        times = self._recent.get(client)
        if times is None:
            times = self._recent[client] = deque()
            while len(self._recent) > MAX_CLIENTS:
                self._recent.popitem(last=False)
        self._recent.move_to_end(client)
        while times and now - times[0] > self.rate_window:
            times.popleft()
        if len(times) >= self.rate_limit:
            raise FeedbackError("反馈过于频繁，请稍后再试 / too much feedback from this client, try again later", 429)
        times.append(now)

    def record(self, answer_id: object, vote: object, reason: object = None, text: object = None,
               client: str = "-") -> dict:
        """Write one vote; returns ``{"status": "recorded" | "duplicate", "answer_id"}``."""
        if vote not in VOTES:
            raise FeedbackError("vote 必须是 up 或 down / vote must be \"up\" or \"down\"")
        if reason not in (None, "", *REASONS):
            raise FeedbackError(f"原因必须是{'、'.join(REASONS)}之一 / reason must be one of {', '.join(REASONS)}")
        if text is not None and not isinstance(text, str):
            raise FeedbackError("说明必须是文本 / text must be a string")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS * 4:
            raise FeedbackError(f"说明过长（上限 {MAX_TEXT_CHARS} 字）/ text is too long (limit {MAX_TEXT_CHARS})", 413)
        answer_id = clean(answer_id, 64)
        note = clean(text, MAX_TEXT_CHARS)
        client = clean(client, 100) or "-"
        with self._lock:
            remembered = self._answers.get(answer_id)
            if remembered is None:
                raise FeedbackError("找不到这条回答（可能服务已重启），请重新提问后再反馈 / unknown answer id", 404)
            key = (client, answer_id, vote, reason or "", note)
            if key in self._seen:
                return {"status": "duplicate", "answer_id": answer_id}
            self._check_rate(client, time.monotonic())
            entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "answer_id": answer_id,
                     "question": remembered.question, "understood_as": remembered.understood_as,
                     "answer": remembered.answer, "citation_ids": remembered.citation_ids, "vote": vote,
                     "reason": reason or None, "text": note or None}
            line = json.dumps(entry, ensure_ascii=False)
            if len(line.encode("utf-8")) > MAX_RECORD_BYTES:  # cannot happen with the bounds above; kept as a guard
                entry["answer"] = entry["answer"][:200]
                line = json.dumps(entry, ensure_ascii=False)
            self._write(line)
            self._seen[key] = None
            while len(self._seen) > MAX_REMEMBERED * 2:
                self._seen.popitem(last=False)
        return {"status": "recorded", "answer_id": answer_id}

    def _write(self, line: str) -> None:
        try:
            if self._handler is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handler = _AppendOnlyRotatingHandler(self.path, maxBytes=self.max_bytes,
                                                           backupCount=self.backups, encoding="utf-8", delay=True)
            self._handler.append_line(line)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise FeedbackError("磁盘已满，反馈没有保存；请联系管理员清理服务器磁盘 / "
                                    "the server's disk is full: the feedback was not saved", 507) from None
            raise FeedbackError(f"反馈日志无法写入（{exc.strerror or exc}），请联系管理员 / "
                                f"cannot write the feedback log: {exc.strerror or exc}", 503) from None

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()

    # ------------------------------------------------------------ summary

    def records(self) -> list[dict]:
        """Every readable record, oldest file first (rotated files included)."""
        files = [self.path.with_name(f"{self.path.name}.{n}") for n in range(self.backups, 0, -1)] + [self.path]
        out = []
        for file in files:
            try:
                lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def summary(self) -> dict:
        """Counts per question (up, down, each reason) and per reason, most down-votes first."""
        per_question: dict[str, dict] = {}
        by_reason = {r: 0 for r in REASONS}
        totals = {"up": 0, "down": 0}
        for entry in self.records():
            vote = entry.get("vote")
            if vote not in VOTES:
                continue
            question = str(entry.get("question") or "")
            row = per_question.setdefault(question, {"question": question, "up": 0, "down": 0,
                                                     "reasons": {r: 0 for r in REASONS}, "answer_ids": []})
            row[vote] += 1
            totals[vote] += 1
            reason = entry.get("reason")
            if reason in REASONS:
                row["reasons"][reason] += 1
                by_reason[reason] += 1
            if entry.get("answer_id") and entry["answer_id"] not in row["answer_ids"]:
                row["answer_ids"].append(entry["answer_id"])
        questions = sorted(per_question.values(), key=lambda r: (-r["down"], -r["up"], r["question"]))
        return {"total": totals["up"] + totals["down"], **totals, "by_reason": by_reason, "questions": questions}


def summary_allowed(client_host: str | None, authorization: str | None) -> bool:
    """With ``REPORT_QA_FEEDBACK_TOKEN`` set: that bearer token is required; without it: loopback only."""
    token = FEEDBACK_TOKEN.read()
    if token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    return client_host in ("127.0.0.1", "::1", "localhost")
