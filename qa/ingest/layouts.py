"""Text -> passages: find a report's headings, its layout, and cut it into citable passages.

Layouts recognised (``LAYOUTS``):

- ``department-compilation``: one section per department (``### ▶ 区城管局``, ``▶ 区城管局`` or a
  heading that is a department name), a headline, then paragraphs of 一是/二是 items;
- ``work-report``: a government work report, numbered headings ``一、`` / ``（一）`` / ``1.`` /
  ``（1）`` / ``第一章`` at any Markdown level, as plain or bold lines, or opening a paragraph
  (``（一）着力扩大有效需求。……``), with 一是/二是 inside paragraphs;
- ``headed-text``: plain text or Markdown whose headings are lines of their own;
- ``paragraphs``: nothing recognised: paragraphs cut at sentence ends (the build summary says so).

Every passage keeps its exact span: ``text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.config import ChunkingParams
from qa.ingest.document import Chunk, chinese_numeral, clause_spans, parse_chinese_numeral

LAYOUTS = ("department-compilation", "work-report", "headed-text", "paragraphs")

# 一是 / 十二是 at the start of a paragraph or right after a punctuation mark.
_ITEM_MARKER = re.compile(r"(?:^|(?<=[。；;！!？?：:\s]))([一二三四五六七八九十]{1,3})是")
# （1） / (1) and 1. / 1、 items inside a paragraph, at its start or after a punctuation mark.
_BRACKET_ITEM = re.compile(r"(?:^|(?<=[。；;！!？?：:\s]))[（(](\d{1,2})[）)]")
_ARABIC_ITEM = re.compile(r"(?:^|(?<=[。；;！!？?：:\s]))(\d{1,2})[.．、](?!\d)")
_SENTENCE = re.compile(r"[^。！？!?；;]*[。！？!?；;]+[”’」』）)]*|[^。！？!?；;]+$")
_MD_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*#*$")
_BOLD_LINE = re.compile(r"^\*\*(.+?)\*\*[：:]?$")
_DEPT_MARK = re.compile(r"^[▶►]\s*")
# Numbering styles, outermost first in the usual Chinese outline.
_NUMBERING = (
    ("chapter", re.compile(r"^第([一二三四五六七八九十百]{1,4})(?:章|部分|篇|节)\s*")),
    ("cn", re.compile(r"^([一二三四五六七八九十]{1,3})[、．.]\s*")),
    ("pcn", re.compile(r"^[（(]([一二三四五六七八九十]{1,3})[）)]\s*")),
    ("num", re.compile(r"^(\d{1,2})[.、．](?!\d)\s*")),
    ("pnum", re.compile(r"^[（(](\d{1,2})[）)]\s*")),
)
_DEPT_NAME = re.compile(
    r"^(?:[\u4e00-\u9fff]{2,4}[区县市])?[区县市]?[\u4e00-\u9fff]{1,12}?"
    r"(?:局|办|委|办公室|中心|管委会|委员会|指挥部|街道|总工会|团委|妇联|法院|检察院|分局)$")
_END_PUNCT = "。；;！!？?：:，,、"
MAX_HEADING_CHARS = 40


@dataclass
class Heading:
    """One heading of the outline: its text, numbering style and Markdown level (None for plain lines)."""

    text: str  # without Markdown marks and ▶, numbering kept (一、总体要求)
    style: str  # chapter | cn | pcn | num | pnum | dept | md1..md6 | bold | plain
    level: int | None  # Markdown level, None for plain/bold lines
    marker: str = ""  # 一、 / （一） / 1. …
    number: int = 0
    is_dept: bool = False

    @property
    def key(self) -> str:
        """How a passage id names this heading: the department, the number, or the heading's start."""
        if self.is_dept:
            return self.text
        if self.marker:
            return re.sub(r"[、．.（）()\s]", "", self.marker)
        return re.sub(r"[/\s]", "", self.text)[:16]


@dataclass
class _Section:
    path: list[Heading]
    paragraphs: list[tuple[int, int, Heading | None]] = field(default_factory=list)  # span + inline heading


def _lines(text: str):
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        yield pos, pos + len(body), body
        pos += len(line)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def numbering(text: str) -> tuple[str, str, int] | None:
    """(style, marker, number) when ``text`` starts with an outline number (一、 （一） 1. …)."""
    for style, pattern in _NUMBERING:
        m = pattern.match(text)
        if m:
            raw = m.group(1)
            number = int(raw) if raw.isdigit() else parse_chinese_numeral(raw)
            if number > 0:
                return style, m.group(0).strip(), number
    return None


def is_department(name: str) -> bool:
    return len(name) <= 16 and bool(_DEPT_NAME.match(name))


def _heading(text: str, level: int | None, fallback_style: str, dept_mark: bool) -> Heading:
    found = numbering(text)
    bare = text[len(found[1]):].strip() if found else text
    is_dept = dept_mark or is_department(bare)
    if is_dept:
        return Heading(bare, "dept", level, is_dept=True)
    if found:
        return Heading(text, found[0], level, found[1], found[2])
    return Heading(text, fallback_style, level)


def _short_line(body: str) -> bool:
    return len(body) <= MAX_HEADING_CHARS and not body.endswith(tuple(_END_PUNCT)) and "。" not in body


def classify_line(body: str, plain_headings: bool) -> Heading | None:
    """The heading a line is, or None for a paragraph line."""
    md = _MD_HEADING.match(body)
    if md:
        name = md.group(2).strip().strip("*").strip()
        dept_mark = bool(_DEPT_MARK.match(name))
        name = _DEPT_MARK.sub("", name).strip()
        return _heading(name, len(md.group(1)), f"md{len(md.group(1))}", dept_mark) if name else None
    bold = _BOLD_LINE.match(body)
    if bold and len(bold.group(1)) <= MAX_HEADING_CHARS:
        name = bold.group(1).strip()
        return _heading(_DEPT_MARK.sub("", name), None, "bold", bool(_DEPT_MARK.match(name)))
    if _DEPT_MARK.match(body) and len(body) <= MAX_HEADING_CHARS:
        return _heading(_DEPT_MARK.sub("", body).strip(), None, "dept", True)
    found = numbering(body)
    if found and _short_line(body) and len(body) > len(found[1]):
        return _heading(body, None, "plain", False)
    if plain_headings and _short_line(body) and not found:
        return _heading(body, None, "plain", False)
    return None


def inline_heading(paragraph: str) -> Heading | None:
    """A paragraph that opens with an outline number: ``（一）着力扩大有效需求。……`` -> its heading."""
    found = numbering(paragraph)
    if not found:
        return None
    style, marker, number = found
    rest = paragraph[len(marker):].strip()
    first = re.match(r"[^。；;！？!?：:]{1,30}", rest)
    end = first.end() if first else 0
    closes = end < len(rest) and rest[end] in "。；;！？!?：:"
    if style == "num" or not closes:
        text = marker
    else:
        text = f"{marker}{rest[:end]}"
    return Heading(text, style, None, marker, number)


def _push(stack: list[Heading], heading: Heading) -> None:
    """Put ``heading`` into the outline: a sibling of the same style, a child of anything else."""
    while stack and stack[-1].style in ("plain", "bold") and stack[-1].level is None:
        stack.pop()  # a plain or bold line heads only the paragraphs under it
    styles = [h.style for h in stack]
    if heading.style in styles and heading.style not in ("plain", "bold"):
        del stack[styles.index(heading.style):]
    elif heading.level is not None:
        while stack and stack[-1].level is not None and stack[-1].level >= heading.level:
            stack.pop()
    stack.append(heading)


def _title_of(text: str) -> tuple[str, int | None]:
    """The report's title and the start of its line: the first ``#`` heading, else the first short line."""
    first_line = None
    for start, end, body in _lines(text):
        stripped = body.strip()
        if not stripped:
            continue
        md = _MD_HEADING.match(stripped)
        if md and len(md.group(1)) == 1 and md.group(2).strip():
            return md.group(2).strip().strip("*").strip(), start
        if first_line is None:
            first_line = (stripped, start)
    if any(_MD_HEADING.match(b.strip()) for _, _, b in _lines(text)):
        return "", None
    if first_line and _short_line(first_line[0].strip("*")) and not numbering(first_line[0]) \
            and not _DEPT_MARK.match(first_line[0]):
        return first_line[0].strip("*").strip(), first_line[1]
    return "", None


@dataclass
class Parsed:
    """A layout parser's result: the title it found, the layout name, the passages."""

    title: str
    layout: str
    chunks: list[Chunk]


def parse_layout(text: str, report_id: str, source: str, params: ChunkingParams = ChunkingParams(),
                 title: str = "") -> Parsed:
    """Cut one report's text into passages; ``title`` overrides the title found in the text."""
    found_title, title_start = _title_of(text)
    title = title or found_title or report_id
    has_markdown = any(_MD_HEADING.match(b.strip()) for _, _, b in _lines(text))
    stack: list[Heading] = []
    sections: list[_Section] = [_Section([])]
    headings: list[Heading] = []
    for start, end, body in _lines(text):
        stripped = body.strip()
        if not stripped or start + body.find(stripped) == title_start:
            continue
        heading = classify_line(stripped, plain_headings=not has_markdown)
        if heading is not None:
            _push(stack, heading)
            headings.append(heading)
            sections.append(_Section(list(stack)))
            continue
        s, e = _trimmed(text, start, end)
        sections[-1].paragraphs.append((s, e, inline_heading(text[s:e])))

    has_depts = any(h.is_dept for h in headings)
    numbered = any(h.marker for h in headings) or any(p[2] for sec in sections for p in sec.paragraphs)
    if has_depts:
        layout = "department-compilation"
    elif numbered:
        layout = "work-report"
    elif headings:
        layout = "headed-text"
    else:
        layout = "paragraphs"

    builder = _ChunkBuilder(text, report_id, source, title, params)
    for section in sections:
        if not section.paragraphs:
            continue
        preamble = not section.path or (has_depts and not any(h.is_dept for h in section.path))
        kind = "overview" if preamble and has_depts else "paragraph"
        for n, (s, e, inline) in enumerate(section.paragraphs, 1):
            path = section.path + ([inline] if inline else [])
            builder.paragraph(path, (s, e), kind, n, inline)
    return Parsed(title, layout, builder.chunks)


class _ChunkBuilder:
    """Turns paragraphs into ``Chunk``s with unique, stable ids."""

    def __init__(self, text: str, report_id: str, source: str, title: str, params: ChunkingParams):
        self.text, self.report_id, self.source, self.title, self.params = text, report_id, source, title, params
        self.chunks: list[Chunk] = []
        self.used: set[str] = set()

    def add(self, path: list[Heading], kind: str, item_no: int, span: tuple[int, int], label: str,
            item_label: str) -> None:
        s, e = span
        dept_pos = max((i for i, h in enumerate(path) if h.is_dept), default=-1)
        dept = path[dept_pos].text if dept_pos >= 0 else ""
        if dept:
            below = path[dept_pos + 1:]
            headline = below[0].text if below else ""
            keys = [dept]
        else:
            titled = [h.text for h in path if h.text != h.marker]
            headline = titled[-1] if titled else ""
            keys = [h.key for h in path]
        base = "/".join([self.report_id, *keys, label]) if kind != "overview" or label != "overview" \
            else f"{self.report_id}/overview"
        chunk_id, n = base, 2
        while chunk_id in self.used:
            chunk_id, n = f"{base}-{n}", n + 1
        self.used.add(chunk_id)
        self.chunks.append(Chunk(chunk_id, self.source, self.title, dept, headline, item_no, kind,
                                 self.text[s:e], s, e, clause_spans(self.text[s:e], s), report=self.report_id,
                                 section=[h.text for h in path], item_label=item_label))

    def paragraph(self, path: list[Heading], span: tuple[int, int], kind: str, n: int,
                  inline: Heading | None) -> None:
        """One paragraph -> a lead-in and one passage per 一是 item, or sentence pieces."""
        text = self.text
        p_start, p_end = span
        markers, pattern = inline_items(text[p_start:p_end])
        if markers:
            first = p_start + markers[0][0]
            if text[p_start:first].strip():
                self.add(path, "lead", 0, _trimmed(text, p_start, first), "lead" if n == 1 else f"lead{n}", "导语")
            bounds = [p_start + pos for pos, _ in markers] + [p_end]
            for (pos, item_no), nxt in zip(markers, bounds[1:]):
                label = pattern.format(cn=chinese_numeral(item_no), n=item_no)
                self.add(path, "item", item_no, _trimmed(text, p_start + pos, nxt), f"item{item_no}", label)
            return
        pieces = _sentence_pieces(text, p_start, p_end, self.params.max_chars)
        for i, piece in enumerate(pieces, 1):
            label = f"p{n}" if len(pieces) == 1 else f"p{n}.{i}"
            if kind == "overview" and label == "p1":
                self.add(path, kind, 0, piece, "overview", "总述")
            elif inline is not None:
                self.add(path, "item", inline.number, piece, label, inline.marker)
            else:
                self.add(path, kind, 0, piece, label, "总述" if kind == "overview" else "段落")


def _counted(pattern: re.Pattern, paragraph: str) -> list[tuple[int, int]]:
    found, expected = [], 1
    for m in pattern.finditer(paragraph):
        raw = m.group(1)
        if (int(raw) if raw.isdigit() else parse_chinese_numeral(raw)) == expected:
            found.append((m.start(), expected))
            expected += 1
    return found


def item_markers(paragraph: str) -> list[tuple[int, int]]:
    """Positions and numbers of 一是/二是… that count up from 一 without gaps."""
    return _counted(_ITEM_MARKER, paragraph)


def inline_items(paragraph: str) -> tuple[list[tuple[int, int]], str]:
    """Numbered items inside a paragraph and their label pattern: 一是…二是 (``{}是``), （1）…（2） or 1.…2.
    Bracketed and arabic items count only when there are at least two, counting up from 1."""
    markers = item_markers(paragraph)
    if markers:
        return markers, "{cn}是"
    for pattern, label in ((_BRACKET_ITEM, "（{n}）"), (_ARABIC_ITEM, "{n}.")):
        markers = _counted(pattern, paragraph)
        if len(markers) >= 2:
            return markers, label
    return [], ""


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
