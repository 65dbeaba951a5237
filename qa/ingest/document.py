"""The document model: a ``Report`` (one file of the library) and its citable passages (``Chunk``).

A report is what a reader extracted from a file (``qa/ingest/readers.py``) and a
layout parser cut into passages (``qa/ingest/layouts.py``). Every passage keeps
its exact character span in the report's extracted text:
``report.text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from qa.config import ChunkingParams

_NUMERALS = {c: i for i, c in enumerate("零一二三四五六七八九十")}
# A sentence or clause: up to and including 。！？； and any closing quote or bracket after it.
_SENTENCE = re.compile(r"[^。！？!?；;]*[。！？!?；;]+[”’」』）)]*|[^。！？!?；;]+$")


@dataclass
class Chunk:
    """One citable passage. ``text`` is the cited span; ``index_text`` adds its context.

    ``report`` is the report id (file stem), ``title`` the report's title, ``section`` the chain of
    headings above the passage (department headings included), ``dept`` the department where the
    layout has departments ("" otherwise), ``headline`` the nearest heading below the department (or
    the nearest heading at all when there is no department), ``item_label`` the label the report gives
    the passage (一是 / 1. / （一） / 导语 / 总述 / 段落).
    """

    id: str
    source: str
    title: str
    dept: str
    headline: str
    item_no: int
    kind: str  # "overview" | "lead" | "item" | "paragraph"
    text: str
    start: int
    end: int
    clauses: list[tuple[int, int]] = field(default_factory=list)  # absolute spans of clauses
    report: str = ""
    section: list[str] = field(default_factory=list)
    item_label: str = ""

    @property
    def context(self) -> str:
        """What names the passage's place: the department, else the nearest heading, else the title."""
        return self.dept or self.headline or self.title

    def index_text(self, params: ChunkingParams) -> str:
        """What the keyword index sees: department (or headings) and headline, then the item."""
        if not params.index_with_context or self.kind == "overview":
            return self.text
        if not self.dept:
            headings = "，".join(self.section)
            return f"{headings}：{self.text}" if headings else self.text
        return f"{self.dept}：{self.headline}。{self.text}" if self.headline else f"{self.dept}：{self.text}"

    def dense_text(self, params: ChunkingParams) -> str:
        """What the embedding model sees: the department (or the nearest heading), then the item."""
        if self.kind == "overview" or not params.index_with_context:
            return self.text
        if not self.dept:  # the heading path (二、2024年工作安排 （一）…): which year, which part
            headings = " ".join(h for h in self.section if h != self.item_label)
            return f"{headings}：{self.text}" if headings else self.text
        return self.index_text(params) if params.dense_with_headline else f"{self.dept}：{self.text}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        data = dict(data)
        data["clauses"] = [tuple(c) for c in data.get("clauses", [])]
        data["section"] = list(data.get("section", []))
        return cls(**data)


@dataclass
class ReportInfo:
    """A report's metadata, as the index stores it (``reports.json``) and ``GET /api/reports`` lists it."""

    id: str  # file stem; passage ids start with it
    title: str
    district: str  # 临江区 / 拱墅区 … where the text gives it, else ""
    year: int | None  # 2024 … where the title, first lines or file name give it
    source: str  # file name
    format: str  # md | txt | docx | pdf
    layout: str  # department-compilation | work-report | headed-text | paragraphs
    encoding: str = ""
    passages: int = 0
    departments: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # this report's own aliases: alias -> department

    @property
    def label(self) -> str:
        """How an answer names the report: its title, with the district in front when the title lacks it."""
        if self.district and self.district not in self.title:
            return f"{self.district}·{self.title}"
        return self.title

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ReportInfo":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Report:
    """One file of the library: metadata, the extracted text and its passages."""

    info: ReportInfo
    text: str
    chunks: list[Chunk]

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def source(self) -> str:
        return self.info.source

    @property
    def title(self) -> str:
        return self.info.title


def chinese_numeral(n: int) -> str:
    """1 -> 一, 10 -> 十, 12 -> 十二, 21 -> 二十一; outside 0–99 (never an item number in practice) Arabic digits."""
    digits = "零一二三四五六七八九"
    if not 0 <= n <= 99:
        return str(n)
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def parse_chinese_numeral(s: str) -> int:
    if "十" not in s:
        return _NUMERALS[s] if len(s) == 1 and s in _NUMERALS else -1
    tens, _, ones = s.partition("十")
    return (_NUMERALS.get(tens, -1) if tens else 1) * 10 + (_NUMERALS.get(ones, -1) if ones else 0)


def clause_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Split at 。；！？ into clauses; spans are absolute (``offset`` + position), whitespace trimmed."""
    spans = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((offset + s, offset + e))
    return spans


class CorpusError(ValueError):
    """A report file that cannot be read or a corpus that cannot be loaded; the message names the file."""
