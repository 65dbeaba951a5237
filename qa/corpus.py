"""Corpus -> chunks: parse work reports into department / numbered-item chunks.

A report is UTF-8 Markdown: ``# title``, an opening paragraph, then one
section per department (``### ▶ 区城管局``) with a headline (``####``) and a
paragraph of numbered items (一是…, 二是…). Every chunk keeps its exact
character span: ``source_text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.config import ChunkingParams

CORPUS_SUFFIXES = (".md", ".txt", ".markdown")
ALIASES_FILE = "aliases.json"

_NUMERALS = {c: i for i, c in enumerate("零一二三四五六七八九十")}
# 一是 / 十二是 at the start of a paragraph or right after a punctuation mark.
_ITEM_MARKER = re.compile(r"(?:^|(?<=[。；;！!？?：:\s]))([一二三四五六七八九十]{1,3})是")
# A sentence or clause: up to and including 。！？； and any closing quote or bracket after it.
_SENTENCE = re.compile(r"[^。！？!?；;]*[。！？!?；;]+[”’」』）)]*|[^。！？!?；;]+$")
_QUOTED = re.compile(r"[“\"《「]([^”\"》」]{2,10})[”\"》」]")


class CorpusError(ValueError):
    """A report file that cannot be read; the message names the file."""


@dataclass
class Chunk:
    """One citable passage. ``text`` is the cited span; ``index_text`` adds its context."""

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

    @property
    def item_label(self) -> str:
        if self.kind == "item":
            return f"{chinese_numeral(self.item_no)}是"
        return {"overview": "总述", "lead": "导语"}.get(self.kind, "段落")

    def index_text(self, params: ChunkingParams) -> str:
        """What the keyword index sees: department and headline, then the item."""
        if not params.index_with_context or self.kind == "overview":
            return self.text
        return f"{self.dept}：{self.headline}。{self.text}" if self.headline else f"{self.dept}：{self.text}"

    def dense_text(self, params: ChunkingParams) -> str:
        """What the embedding model sees: the department, then the item (headline only if configured)."""
        if self.kind == "overview" or not params.index_with_context:
            return self.text
        return self.index_text(params) if params.dense_with_headline else f"{self.dept}：{self.text}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        data = dict(data)
        data["clauses"] = [tuple(c) for c in data.get("clauses", [])]
        return cls(**data)


@dataclass
class Report:
    source: str
    title: str
    text: str
    chunks: list[Chunk]


@dataclass
class Corpus:
    """All reports of a corpus folder plus the department alias table."""

    reports: list[Report]
    aliases: dict[str, str]  # alias -> canonical department name
    errors: list[str]  # files that could not be read, with the reason
    fingerprint: str

    @property
    def chunks(self) -> list[Chunk]:
        return [c for r in self.reports for c in r.chunks]

    @property
    def departments(self) -> list[str]:
        seen: dict[str, None] = {}
        for chunk in self.chunks:
            if chunk.kind != "overview":
                seen.setdefault(chunk.dept)
        return list(seen)

    def source_text(self, source: str) -> str:
        for report in self.reports:
            if report.source == source:
                return report.text
        raise KeyError(source)


def chinese_numeral(n: int) -> str:
    """1 -> 一, 10 -> 十, 12 -> 十二, 21 -> 二十一 (items rarely pass 99)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def parse_chinese_numeral(s: str) -> int:
    if "十" not in s:
        return _NUMERALS[s] if len(s) == 1 else -1
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


def item_markers(paragraph: str) -> list[tuple[int, int]]:
    """Positions and numbers of 一是/二是… that count up from 一 without gaps."""
    found, expected = [], 1
    for m in _ITEM_MARKER.finditer(paragraph):
        if parse_chinese_numeral(m.group(1)) == expected:
            found.append((m.start(), expected))
            expected += 1
    return found


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentence_pieces(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut [start, end) into pieces of whole sentences, each at most ``max_chars`` where possible."""
    pieces: list[tuple[int, int]] = []
    piece_start = start
    for m in _SENTENCE.finditer(text, start, end):
        if m.end() - piece_start > max_chars and m.start() > piece_start:
            pieces.append((piece_start, m.start()))
            piece_start = m.start()
    pieces.append((piece_start, end))
    return [_trimmed(text, s, e) for s, e in pieces if text[s:e].strip()]


@dataclass
class _Section:
    dept: str
    headline: str = ""
    paragraphs: list[tuple[int, int]] = field(default_factory=list)


def _lines(text: str):
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        yield pos, pos + len(body), body
        pos += len(line)


def parse_report(text: str, source: str, params: ChunkingParams = ChunkingParams()) -> Report:
    """Parse one report's text into chunks. ``source`` is the file name used in citations."""
    doc_id = Path(source).stem
    title = ""
    preamble: list[tuple[int, int]] = []
    sections: list[_Section] = []
    for start, end, line in _lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        heading = re.match(r"^(#{1,6})\s*(.*)$", stripped)
        if heading:
            level, name = len(heading.group(1)), heading.group(2).strip()
            name = name.lstrip("▶►>·• ").strip()
            if level == 1 and not title:
                title = name
            elif level == 3 and name:
                sections.append(_Section(dept=name))
            elif level >= 4 and sections and not sections[-1].headline:
                sections[-1].headline = name
            continue
        span = _trimmed(text, start, end)
        (sections[-1].paragraphs if sections else preamble).append(span)
    if not title:
        title = _fallback_title(text, preamble, doc_id)
        preamble = [p for p in preamble if text[p[0]:p[1]] != title]

    chunks: list[Chunk] = []
    used_ids: set[str] = set()

    def add(dept: str, headline: str, kind: str, item_no: int, span: tuple[int, int], label: str) -> None:
        s, e = span
        chunk_id = f"{doc_id}/{dept}/{label}"
        n = 2
        while chunk_id in used_ids:
            chunk_id, n = f"{doc_id}/{dept}/{label}-{n}", n + 1
        used_ids.add(chunk_id)
        chunks.append(Chunk(chunk_id, source, title, dept, headline, item_no, kind, text[s:e], s, e,
                            clause_spans(text[s:e], s)))

    top_kind = "overview" if sections else "paragraph"
    for n, span in enumerate(preamble, 1):
        _add_paragraph(text, span, title, "", top_kind, params, add, n)
    for section in sections:
        for n, span in enumerate(section.paragraphs, 1):
            _add_paragraph(text, span, section.dept, section.headline, "paragraph", params, add, n)
    return Report(source=source, title=title, text=text, chunks=chunks)


def _add_paragraph(text, span, dept, headline, kind, params, add, n) -> None:
    """One paragraph -> a lead-in chunk and one chunk per numbered item, or sentence pieces."""
    p_start, p_end = span
    markers = item_markers(text[p_start:p_end])
    if markers:
        first = p_start + markers[0][0]
        if text[p_start:first].strip():
            add(dept, headline, "lead", 0, _trimmed(text, p_start, first), "lead" if n == 1 else f"lead{n}")
        bounds = [p_start + pos for pos, _ in markers] + [p_end]
        for (pos, item_no), nxt in zip(markers, bounds[1:]):
            add(dept, headline, "item", item_no, _trimmed(text, p_start + pos, nxt), f"item{item_no}")
        return
    pieces = _sentence_pieces(text, p_start, p_end, params.max_chars)
    for i, piece in enumerate(pieces, 1):
        label = f"p{n}" if len(pieces) == 1 else f"p{n}.{i}"
        add(dept, headline, kind, 0, piece, "overview" if kind == "overview" and label == "p1" else label)


def _fallback_title(text: str, preamble: list[tuple[int, int]], doc_id: str) -> str:
    """A file with no ``#`` title: its first short line without a full stop, else the file name."""
    if preamble:
        first = text[preamble[0][0]:preamble[0][1]]
        if len(first) <= 40 and not re.search(r"[。！？!?]", first):
            return first
    return doc_id


# ---------------------------------------------------------------- aliases


def derive_aliases(dept: str) -> list[str]:
    """区城管局 -> [城管局, 城管]; 区科技工业区委 -> [科技工业区委, 科技工业区]."""
    aliases = []
    core = dept[1:] if dept.startswith(("区", "市", "县")) and len(dept) > 3 else dept
    if core != dept:
        aliases.append(core)
    for suffix in ("局", "办", "委", "中心"):
        if core.endswith(suffix) and len(core) - len(suffix) >= 2:
            aliases.append(core[: -len(suffix)])
            break
    return aliases


def build_alias_table(departments: list[str], extra: dict[str, list[str]]) -> dict[str, str]:
    """alias -> department. Derived aliases first; the data file's short names override them."""
    table: dict[str, str] = {}
    for dept in departments:
        table[dept] = dept
        for alias in derive_aliases(dept):
            table.setdefault(alias, dept)
    for dept, names in extra.items():
        if dept not in departments:
            continue
        for alias in names:
            table[alias] = dept
    return table


def load_extra_aliases(corpus_dir: Path) -> dict[str, list[str]]:
    path = corpus_dir / ALIASES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    entries = {k: v for k, v in data.items() if not k.startswith("_")} if isinstance(data, dict) else None
    if entries is None or not all(isinstance(v, list) for v in entries.values()):
        raise CorpusError(f'{path}: expected {{"区XX局": ["简称", ...], ...}}')
    return {dept: [str(a) for a in names] for dept, names in entries.items()}


# ---------------------------------------------------------------- loading


def corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in CORPUS_SUFFIXES)


def read_report_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise CorpusError(f"{path.name}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path.name}: not UTF-8 (byte {exc.start}); save it as UTF-8") from exc
    if not re.search(r"[\w\u4e00-\u9fff]", text):
        raise CorpusError(f"{path.name}: no text in the file")
    return text


def corpus_fingerprint(corpus_dir: Path) -> str:
    """sha256 over the names and bytes of every report and the alias file."""
    digest = hashlib.sha256()
    paths = corpus_files(corpus_dir) if corpus_dir.is_dir() else []
    if (corpus_dir / ALIASES_FILE).is_file():
        paths.append(corpus_dir / ALIASES_FILE)
    for p in paths:
        digest.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return digest.hexdigest()


def load_corpus(corpus_dir: Path, params: ChunkingParams = ChunkingParams()) -> Corpus:
    """Parse every report in ``corpus_dir``. Unreadable files are reported in ``errors`` and skipped."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    reports, errors = [], []
    for path in corpus_files(corpus_dir):
        try:
            report = parse_report(read_report_text(path), path.name, params)
        except CorpusError as exc:
            errors.append(str(exc))
            print(f"warning: skipped {exc}", file=sys.stderr)
            continue
        if not report.chunks:
            errors.append(f"{path.name}: no paragraphs to index")
            continue
        reports.append(report)
    if not reports:
        detail = "; ".join(errors) if errors else "no .md/.txt files"
        raise CorpusError(f"no readable report in {corpus_dir}: {detail}")
    corpus = Corpus(reports, {}, errors, corpus_fingerprint(corpus_dir))
    corpus.aliases = build_alias_table(corpus.departments, load_extra_aliases(corpus_dir))
    return corpus


def quoted_terms(text: str) -> list[str]:
    """Terms the report puts in quotes or book-title marks: “城市大脑”, “墅企通”, 《…》."""
    terms = {m.group(1).strip() for m in _QUOTED.finditer(text)}
    return sorted(t for t in terms if t and not re.search(r"[，。、；：\s]", t))
