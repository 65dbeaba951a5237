"""Files -> text: one reader per format (.md/.txt, .docx, .pdf).

Every reader returns the report's text as plain lines, headings on lines of
their own (Word heading styles become ``#`` lines, numbered lists get their
numbers), paragraphs separated by blank lines. The layout parsers
(``qa/ingest/layouts.py``) cut that text into passages, and the index keeps it, so
passage offsets hold whatever the original format was.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from qa.ingest.document import CorpusError

TEXT_SUFFIXES = (".md", ".markdown", ".txt")
READABLE_SUFFIXES = TEXT_SUFFIXES + (".docx", ".pdf")
MAX_FILE_BYTES = 50 * 2**20  # a report larger than this is refused, not read
MAX_UNZIPPED_BYTES = 200 * 2**20  # a .docx that unzips to more than this (a zip bomb) is refused
MAX_ZIP_RATIO = 200  # nor one whose parts claim to expand more than this (ordinary .docx: under 20)
MAX_PDF_PAGES = 2000  # a PDF with more pages is refused before any page is read

_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# A line that starts a heading or a numbered item: 一、 （一） 1. ▶ 第一章 #.
_STARTS_BLOCK = re.compile(r"^(?:#|▶|►|第[一二三四五六七八九十百]+[章节部分]|[一二三四五六七八九十]{1,3}[、.．]|"
                           r"[（(][一二三四五六七八九十\d]{1,3}[）)]|\d{1,2}[.、．](?!\d))")
_PAGE_NUMBER = re.compile(r"^[-—–\s]*(?:第\s*)?\d{1,4}\s*(?:页)?\s*(?:(?:/|共)\s*\d{1,4}\s*页?)?[-—–\s]*$"
                          r"|^(?:page|Page|PAGE)\s*\d+(?:\s*(?:of|/)\s*\d+)?$")
_SENTENCE_END = "。！？!?；;：:”」』）)"


@dataclass
class Extracted:
    """What a reader got out of one file."""

    text: str
    format: str  # md | txt | docx | pdf
    encoding: str = ""  # the detected encoding, for text files


def read_report_file(path: Path) -> Extracted:
    """The text of one report file; ``CorpusError`` naming the file when it cannot be read."""
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorpusError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise CorpusError(f"{path.name}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"{path.name}: larger than {MAX_FILE_BYTES // 2**20} MB; split it")
    if suffix in TEXT_SUFFIXES:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"{path.name}: cannot be read ({exc.strerror})") from exc
        text, encoding = decode_text(raw, path.name)
        extracted = Extracted(text, "md" if suffix in (".md", ".markdown") else "txt", encoding)
    elif suffix == ".docx":
        extracted = Extracted(read_docx(path), "docx")
    elif suffix == ".pdf":
        extracted = Extracted(read_pdf(path), "pdf")
    else:
        raise CorpusError(f"{path.name}: unsupported format {suffix or '(none)'}; use .md, .txt, .docx or .pdf")
    if not extracted.text.strip():
        raise CorpusError(f"{path.name}: the file is empty")
    if not _WORDLIKE.search(extracted.text):
        raise CorpusError(f"{path.name}: no text in the file")
    return extracted


# ---------------------------------------------------------------- text files


def _looks_chinese(text: str) -> bool:
    """Mostly CJK or ASCII, with no control characters: what a correct decoding of a report gives."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return False
    if any(ord(c) < 32 for c in text if c not in "\r\n\t\f"):
        return False
    cjk = sum(1 for c in visible if _CJK.match(c))
    ascii_ = sum(1 for c in visible if ord(c) < 128)
    return cjk / len(visible) >= 0.3 or (cjk + ascii_) / len(visible) >= 0.9


def decode_text(raw: bytes, name: str) -> tuple[str, str]:
    """Decode a text file: BOM first, then UTF-8, GB18030 (covers GBK/GB2312), then charset-normalizer's guess."""
    if not raw.strip():
        raise CorpusError(f"{name}: the file is empty")
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(encoding), encoding.replace("-sig", "")
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{name}: starts with a {encoding} byte-order mark but is not {encoding} "
                                  f"(byte {exc.start}); save it as UTF-8") from exc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = ["gb18030"]
    if raw.count(b"\0") > len(raw) // 10:  # UTF-16 without a byte-order mark
        candidates = ["utf-16-le", "utf-16-be"] + candidates
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw).best()
        if best is not None and best.encoding not in candidates:
            guess = best.encoding
            candidates.append("gb18030" if guess in ("gb2312", "gbk", "hz") else guess)
    except ImportError:  # pragma: no cover - charset-normalizer is a dependency
        pass
    for encoding in candidates:
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if _looks_chinese(text):
            return text, codecs.lookup(encoding).name
    raise CorpusError(f"{name}: unknown text encoding (not UTF-8, GB18030/GBK or UTF-16); save it as UTF-8")


# ---------------------------------------------------------------- .docx


_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)


def _docx_numbering(document):
    """numId -> ilvl -> (numFmt, lvlText, start) from the document's numbering part ({} when it has none)."""
    from docx.oxml.ns import qn

    try:
        numbering = document.part.numbering_part.element
    except (KeyError, NotImplementedError, AttributeError):
        return {}
    abstract = {}
    for node in numbering.findall(qn("w:abstractNum")):
        levels = {}
        for lvl in node.findall(qn("w:lvl")):
            fmt = lvl.find(qn("w:numFmt"))
            text = lvl.find(qn("w:lvlText"))
            start = lvl.find(qn("w:start"))
            levels[int(lvl.get(qn("w:ilvl"), 0))] = (
                fmt.get(qn("w:val")) if fmt is not None else "decimal",
                text.get(qn("w:val")) if text is not None else "%1.",
                int(start.get(qn("w:val"))) if start is not None else 1,
            )
        abstract[node.get(qn("w:abstractNumId"))] = levels
    result = {}
    for num in numbering.findall(qn("w:num")):
        ref = num.find(qn("w:abstractNumId"))
        if ref is not None:
            result[num.get(qn("w:numId"))] = abstract.get(ref.get(qn("w:val")), {})
    return result


def _num_props(paragraph):
    """(numId, ilvl) of a list paragraph, from the paragraph or its style; None when it is not numbered."""
    from docx.oxml.ns import qn

    for owner in (paragraph._p, getattr(paragraph.style, "element", None)):
        if owner is None:
            continue
        ppr = owner.find(qn("w:pPr"))
        numpr = ppr.find(qn("w:numPr")) if ppr is not None else None
        if numpr is None:
            continue
        num_id = numpr.find(qn("w:numId"))
        ilvl = numpr.find(qn("w:ilvl"))
        if num_id is not None and num_id.get(qn("w:val")) != "0":
            return num_id.get(qn("w:val")), int(ilvl.get(qn("w:val"))) if ilvl is not None else 0
    return None


def _format_number(n: int, fmt: str) -> str:
    from qa.ingest.document import chinese_numeral

    if fmt in ("chineseCounting", "chineseCountingThousand", "ideographTraditional", "japaneseCounting",
               "ideographDigital", "taiwaneseCounting"):
        return chinese_numeral(n)
    if fmt == "lowerLetter":
        return chr(ord("a") + (n - 1) % 26)
    if fmt == "upperLetter":
        return chr(ord("A") + (n - 1) % 26)
    if fmt == "bullet":
        return ""
    return str(n)


def read_docx(path: Path) -> str:
    """Paragraphs of a .docx; heading styles become ``#`` lines, numbered list paragraphs get their numbers."""
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
    except ImportError as exc:  # pragma: no cover - python-docx is a dependency
        raise CorpusError(f"{path.name}: python-docx is not installed") from exc
    check_zip_size(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise CorpusError(f"{path.name}: not a readable .docx ({exc})") from exc
    except Exception as exc:  # a zip/XML error deep inside python-docx: still a bad file, not a crash
        raise CorpusError(f"{path.name}: not a readable .docx ({type(exc).__name__})") from exc
    try:
        return _docx_text(document)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # odd numbering or style XML
        raise CorpusError(f"{path.name}: unreadable list numbering or styles in the .docx "
                          f"({type(exc).__name__}: {exc})") from exc


def check_zip_size(path: Path) -> None:
    """Refuse a .docx whose parts, by the sizes its zip directory declares, expand past
    ``MAX_UNZIPPED_BYTES`` or more than ``MAX_ZIP_RATIO`` times: read before anything is inflated."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except zipfile.BadZipFile as exc:  # an encrypted .docx is an OLE file holding the encrypted package, no zip
        raise CorpusError(f"{path.name}: encrypted or not a .docx: remove its password, or save it as .docx "
                          f"({exc})") from exc
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{path.name}: not a readable .docx ({exc})") from exc
    unzipped = sum(e.file_size for e in entries)
    packed = max(sum(e.compress_size for e in entries), 1)
    if unzipped > MAX_UNZIPPED_BYTES or unzipped / packed > MAX_ZIP_RATIO:
        raise CorpusError(f"{path.name}: the .docx would unzip to {unzipped // 2**20} MB "
                          f"({unzipped / packed:.0f} times its size); refused as a possible zip bomb")


def _docx_text(document) -> str:
    """The paragraphs of an opened .docx as text: heading lines and list numbers rendered."""
    numbering = _docx_numbering(document)
    counters: dict[str, list[int]] = {}
    blocks = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = paragraph.style.name if paragraph.style is not None else ""
        heading = _HEADING_STYLE.match(style)
        props = _num_props(paragraph)
        if props is not None:
            num_id, ilvl = props
            fmt, pattern, start = numbering.get(num_id, {}).get(ilvl, ("decimal", "%1.", 1))
            levels = counters.setdefault(num_id, [0] * 9)
            ilvl = min(ilvl, 8)
            levels[ilvl] += 1
            for deeper in range(ilvl + 1, 9):
                levels[deeper] = 0
            label = pattern
            for lvl in range(ilvl + 1):
                lvl_fmt, _, lvl_start = numbering.get(num_id, {}).get(lvl, ("decimal", "", 1))
                value = levels[lvl] + lvl_start - 1 if levels[lvl] else lvl_start
                label = label.replace(f"%{lvl + 1}", _format_number(value, lvl_fmt if lvl != ilvl else fmt))
            if label and not text.startswith(label):
                text = f"{label}{text}" if label.endswith(("、", "）", ")", ".", "．")) else f"{label} {text}"
        if style.lower() == "title":
            text = f"# {text}"
        elif heading:
            text = f"{'#' * min(int(heading.group(1)) + 1, 6)} {text}" if _has_title(document) else \
                f"{'#' * min(int(heading.group(1)), 6)} {text}"
        blocks.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                blocks.append("　".join(dict.fromkeys(cells)))
    return "\n\n".join(blocks) + "\n"


def _has_title(document) -> bool:
    return any(p.style is not None and p.style.name.lower() == "title" for p in document.paragraphs[:5])


# ---------------------------------------------------------------- .pdf


def _width(line: str) -> float:
    """Display width: a CJK character counts 1, an ASCII one 0.5."""
    return sum(0.5 if ord(c) < 128 else 1.0 for c in line)


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Lines (digits folded) in the first or last two lines of at least half the pages: headers and footers."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        edge = set(lines[:2] + lines[-2:])
        counts.update({re.sub(r"\d+", "#", line) for line in edge})
    needed = max(2, (len(pages) + 1) // 2)
    return {line for line, n in counts.items() if n >= needed}


def page_lines(pages: list[str]) -> list[list[str]]:
    """Each page's lines without running headers, footers and page numbers."""
    split = [[line.strip() for line in page.splitlines() if line.strip()] for page in pages]
    running = _running_lines(split)
    cleaned = []
    for lines in split:
        keep = []
        for n, line in enumerate(lines):
            at_edge = n < 2 or n >= len(lines) - 2
            if at_edge and (re.sub(r"\d+", "#", line) in running or _PAGE_NUMBER.match(line)):
                continue
            keep.append(line)
        cleaned.append(keep)
    return cleaned


def rejoin_lines(pages: list[list[str]]) -> str:
    """Join lines broken at the page width into paragraphs; a short line ends its paragraph."""
    lines = [line for page in pages for line in page]
    if not lines:
        return ""
    widths = sorted(_width(line) for line in lines)
    full = widths[int(0.9 * (len(widths) - 1))]  # the page width, in characters
    paragraphs, current = [], ""
    for n, line in enumerate(lines):
        current += line
        nxt = lines[n + 1] if n + 1 < len(lines) else ""
        # a line that reaches the page width continues; one shorter by more than a character ends a paragraph
        is_full = _width(line) >= max(full - 1.5, 0.85 * full)
        heading_like = bool(_STARTS_BLOCK.match(line)) and not is_full and not line.endswith(tuple(_SENTENCE_END))
        if not nxt or not is_full or heading_like or _STARTS_BLOCK.match(nxt) and line.endswith(tuple(_SENTENCE_END)):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs) + "\n"


def read_pdf(path: Path) -> str:
    """Text of a PDF's text layer, headers/footers/page numbers dropped and broken lines rejoined."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:  # pragma: no cover - pypdf is a dependency
        raise CorpusError(f"{path.name}: pypdf is not installed") from exc
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorpusError(f"{path.name}: the PDF is password-protected")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise CorpusError(f"{path.name}: {len(reader.pages)} pages, more than {MAX_PDF_PAGES}; split it")
        pages = [page.extract_text() or "" for page in reader.pages]
    except CorpusError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError) as exc:
        raise CorpusError(f"{path.name}: not a readable PDF ({exc})") from exc
    except Exception as exc:  # pypdf raises many kinds on a damaged file; never a traceback
        raise CorpusError(f"{path.name}: not a readable PDF ({type(exc).__name__})") from exc
    if not any(_WORDLIKE.search(page) for page in pages):
        raise CorpusError(f"{path.name}: no text layer: OCR it first")
    return rejoin_lines(page_lines(pages))
