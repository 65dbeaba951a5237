"""Test set-up: the library's Markdown reports rewritten as the other formats reports come in.

Nothing binary is committed: tests (and ``python tests/formats.py OUT_DIR``, for measuring
retrieval per format) generate a GB18030 .txt, a UTF-16 .txt, a .docx (python-docx: heading
styles, Word numbered lists) and a .pdf with a text layer (reportlab's built-in Chinese CID font
STSong-Light, lines broken at the page width, a running header and page-number footers), and a
PDF with no text layer, from the Markdown.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_MD_HEADING = re.compile(r"^(#{1,6})\s*(.*)$")
_BOLD = re.compile(r"^\*\*(.+)\*\*$")
_NUMBERED_ITEM = re.compile(r"^(\d{1,2})\.\s*(.+)$")


def markdown_blocks(md: str) -> list[tuple[str, int, str]]:
    """(kind, level, text): kind "heading" (level 1..6), "bold" or "para", one per non-empty line."""
    blocks = []
    for line in md.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _MD_HEADING.match(line)
        if m:
            blocks.append(("heading", len(m.group(1)), m.group(2).strip()))
        elif _BOLD.match(line):
            blocks.append(("bold", 0, _BOLD.match(line).group(1)))
        else:
            blocks.append(("para", 0, line))
    return blocks


def markdown_to_plain(md: str) -> str:
    """Plain text: headings become lines of their own, without ``#`` or ``**``."""
    return "\n\n".join(text for _, _, text in markdown_blocks(md)) + "\n"


def write_text(md: str, path: Path, encoding: str) -> Path:
    text = md if path.suffix == ".md" else markdown_to_plain(md)
    path.write_bytes(text.encode(encoding))
    return path


def write_docx(md: str, path: Path) -> Path:
    """Title and Heading styles for headings, a bold run for bold lines, Word numbering for ``1.`` items."""
    import docx

    document = docx.Document()
    list_id, previous = None, ""
    for kind, level, text in markdown_blocks(md):
        if kind == "heading":
            if level == 1:
                document.add_paragraph(text, style="Title")
            else:
                document.add_heading(text, level=min(level - 1, 9))
        elif kind == "bold":
            document.add_paragraph().add_run(text).bold = True
        else:
            item = _NUMBERED_ITEM.match(text)
            if item:  # the number comes from Word's list numbering, not from the text; each list restarts at 1
                if previous != "item" or item.group(1) == "1":
                    list_id = _restarted_list(document)
                paragraph = document.add_paragraph(item.group(2), style="List Number")
                _set_list(paragraph, list_id)
            else:
                document.add_paragraph(text)
        previous = "item" if kind == "para" and _NUMBERED_ITEM.match(text) else kind
    document.save(str(path))
    return path


def _restarted_list(document) -> str:
    """A new list (w:num) on the "List Number" style's numbering, restarting at 1, as Word makes one."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    numbering = document.part.numbering_part.element
    style_num = document.styles["List Number"].element.pPr.numPr.numId.val
    abstract = next(n.find(qn("w:abstractNumId")).get(qn("w:val")) for n in numbering.findall(qn("w:num"))
                    if n.get(qn("w:numId")) == str(style_num))
    new_id = str(max(int(n.get(qn("w:numId"))) for n in numbering.findall(qn("w:num"))) + 1)
    num = OxmlElement("w:num")
    num.set(qn("w:numId"), new_id)
    ref = OxmlElement("w:abstractNumId")
    ref.set(qn("w:val"), abstract)
    num.append(ref)
    override = OxmlElement("w:lvlOverride")
    override.set(qn("w:ilvl"), "0")
    start = OxmlElement("w:startOverride")
    start.set(qn("w:val"), "1")
    override.append(start)
    num.append(override)
    numbering.append(num)
    return new_id


def _set_list(paragraph, num_id: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    ppr = paragraph._p.get_or_add_pPr()
    numpr = OxmlElement("w:numPr")
    ilvl = OxmlElement("w:ilvl")
    ilvl.set(qn("w:val"), "0")
    num = OxmlElement("w:numId")
    num.set(qn("w:val"), num_id)
    numpr.append(ilvl)
    numpr.append(num)
    ppr.append(numpr)


def _wrap(text: str, width: float) -> list[str]:
    lines, current, used = [], "", 0.0
    for ch in text:
        w = 0.5 if ord(ch) < 128 else 1.0
        if used + w > width:
            lines.append(current)
            current, used = "", 0.0
        current += ch
        used += w
    if current:
        lines.append(current)
    return lines


def write_pdf(md: str, path: Path, header: str = "内部资料　注意保存", chars_per_line: int = 34) -> Path:
    """A text-layer PDF: lines broken at the page width, a running header and "- n -" page numbers."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    size = 12
    width, height = A4
    pdf = canvas.Canvas(str(path), pagesize=A4)
    page = [1]
    y = [height - 90]

    def page_furniture() -> None:
        pdf.setFont("STSong-Light", 9)
        pdf.drawString(60, height - 50, header)
        pdf.drawCentredString(width / 2, 40, f"- {page[0]} -")
        pdf.setFont("STSong-Light", size)

    def new_page() -> None:
        pdf.showPage()
        page[0] += 1
        y[0] = height - 90
        page_furniture()

    page_furniture()
    for kind, level, text in markdown_blocks(md):
        lines = [text] if kind != "para" else _wrap(text, chars_per_line)
        for line in lines:
            if y[0] < 80:
                new_page()
            pdf.drawString(60, y[0], line)
            y[0] -= size * 1.6
        y[0] -= size * 0.6
    pdf.save()
    return path


def write_scanned_pdf(path: Path) -> Path:
    """A PDF with drawings only, as a scanner without OCR makes: no text layer."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    for n in range(20):
        pdf.rect(60, 700 - n * 25, 400, 12, fill=1)
    pdf.save()
    return path


FORMATS = ("md", "gb18030.txt", "docx", "pdf")


def write_format(md_path: Path, out_dir: Path, fmt: str) -> Path:
    """``md_path`` rewritten as ``fmt`` in ``out_dir``, under the same file stem."""
    md = md_path.read_text(encoding="utf-8")
    stem = md_path.stem
    if md_path.suffix == ".txt" and fmt == "md":
        fmt = "txt"
    if fmt in ("md", "txt"):
        return write_text(md, out_dir / f"{stem}{md_path.suffix}", "utf-8")
    if fmt == "gb18030.txt":
        return write_text(md, out_dir / f"{stem}.txt", "gb18030")
    if fmt == "utf16.txt":
        return write_text(md, out_dir / f"{stem}.txt", "utf-16")
    if fmt == "docx":
        return write_docx(md, out_dir / f"{stem}.docx")
    if fmt == "pdf":
        return write_pdf(md, out_dir / f"{stem}.pdf")
    raise ValueError(fmt)


if __name__ == "__main__":  # python tests/formats.py OUT_DIR FORMAT FILE...
    out, fmt, *files = sys.argv[1:]
    Path(out).mkdir(parents=True, exist_ok=True)
    for name in files:
        print(write_format(Path(name), Path(out), fmt))
