"""Corpus folder -> reports: read every file (``qa/ingest/readers.py``), cut it by its layout
(``qa/ingest/layouts.py``), attach each report's metadata and the department aliases.

``load_corpus`` returns a ``Corpus`` and a per-file build summary: every file
with its format, layout and passage count, or the reason it was skipped (a .doc or .wps file, a copy of a
file already indexed, a file that cannot be read); control characters in names are escaped.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import ChunkingParams
from qa.ingest.document import Chunk, CorpusError, Report, ReportInfo
from qa.ingest.layouts import parse_layout
from qa.ingest.readers import READABLE_SUFFIXES, decode_text, read_report_file

CORPUS_SUFFIXES = READABLE_SUFFIXES
ALIASES_FILE = "aliases.json"
REPORTS_KEY = "_reports"  # per-report metadata and aliases inside aliases.json

_QUOTED = re.compile(r"[“\"《「]([^”\"》」]{2,10})[”\"》」]")
# 临江区 / 拱墅区 / 某某县: two characters and 区/县; the character before 区 must not make a common word.
_DISTRICT = re.compile(r"([\u4e00-\u9fff]{2})([区县])")
_NOT_DISTRICT = set("全城园社小景街辖新范板行心能发验片老山郊市本我该各两一管校厂库林矿灾选禁专分商住护名域岸跨地业级宅活贸")
# Characters of _NOT_DISTRICT that end many real districts' names (中山区, 东城区, 江岸区, 青山区).
_NAMES_END = set("山城岸林")
# What may stand before a district's name at the start of a title: nothing, a year, a city.
_TITLE_LEAD = re.compile(r"(?:(?:19|20)\d\d年(?:度)?)?(?:[\u4e00-\u9fff]{2,3}[市州盟])?")
_YEAR = re.compile(r"((?:19|20)\d\d)\s*年")
_STEM_YEAR = re.compile(r"(?:^|[-_.])((?:19|20)\d\d)(?=$|[-_.])")


UNSUPPORTED_SUFFIXES = (".doc", ".wps")  # Word 97–2003 and WPS: listed in the summary, never read
UNSUPPORTED = "unsupported format: save as .docx"
_UNPRINTABLE = ("Cc", "Cf", "Cs", "Zl", "Zp")  # control, format (U+202E …), lone surrogates, line breaks


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``, ``\\u202e``): a file name cannot forge a
    summary line or send escape codes to the terminal."""
    return "".join(ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   if unicodedata.category(ch) in _UNPRINTABLE else ch for ch in text)


@dataclass
class FileSummary:
    """One line of the build summary."""

    name: str
    status: str  # "indexed" | "skipped"
    format: str = ""
    layout: str = ""
    passages: int = 0
    reason: str = ""  # why it was skipped, or a note (layout not recognised)

    def line(self) -> str:
        if self.status == "skipped":
            return printable(f"  {self.name}: skipped — {self.reason}")
        note = f" ({self.reason})" if self.reason else ""
        return printable(f"  {self.name}: {self.format}, {self.layout}, {self.passages} passages{note}")


@dataclass
class Corpus:
    """All reports of a corpus folder plus the department alias tables."""

    reports: list[Report]
    aliases: dict[str, str]  # alias -> canonical department name (every report)
    errors: list[str]  # files that could not be read, with the reason
    fingerprint: str
    files: list[FileSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # alias keys that match no department, …

    @property
    def chunks(self) -> list[Chunk]:
        return [c for r in self.reports for c in r.chunks]

    @property
    def departments(self) -> list[str]:
        seen: dict[str, None] = {}
        for chunk in self.chunks:
            if chunk.kind != "overview" and chunk.dept:
                seen.setdefault(chunk.dept)
        return list(seen)

    def source_text(self, source: str) -> str:
        for report in self.reports:
            if report.source == source:
                return report.text
        raise KeyError(source)

    def report_text(self, report_id: str) -> str:
        for report in self.reports:
            if report.id == report_id:
                return report.text
        raise KeyError(report_id)

    def summary(self) -> str:
        """The build summary: every file with layout and passages, or why it was skipped."""
        lines = [f.line() for f in self.files]
        lines += [printable(f"  warning: {w}") for w in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------- metadata


def is_district_name(word: str) -> bool:
    """临江区 / 西湖区 / 某某县: yes; 老城区, 住宅区, 示范区, 开发区: no."""
    m = _DISTRICT.fullmatch(word)
    return bool(m) and m.group(1)[-1] not in _NOT_DISTRICT and m.group(1)[0] not in _NOT_DISTRICT


def find_district(title: str, text: str) -> str:
    """The district a report is about: from its title or first lines (临江区2024年政府工作报告 -> 临江区).

    A name ending like a common word (山区, 城区: ``_NAMES_END``) is still the district where a title begins
    with it or names it right after a year or a city (青山区2022年…, 2022年西山区政府工作报告, 梧川市东城区…): a
    title does not begin with 偏远山区. The other look-alikes (开发区, 老城区, 示范区) never are."""
    lines = [line.strip().lstrip("#").strip() for line in text.splitlines()[:12] if line.strip()][:6]
    titles = {title.strip(), lines[0] if lines else ""}
    for line in [title] + [line for line in lines if len(line) <= 40]:
        for m in _DISTRICT.finditer(line):
            name = m.group(1)
            if line[m.end():m.end() + 1] in ("委", "长") and m.start() > 0:  # 贯彻落实区委, 人民政府区长
                continue
            leads = line in titles and _TITLE_LEAD.fullmatch(line[:m.start()]) and name[-1] in _NAMES_END
            if name[0] in _NOT_DISTRICT or (name[-1] in _NOT_DISTRICT and not leads):
                continue
            return m.group(0)
    return ""


def find_year(title: str, text: str, stem: str) -> int | None:
    """The report's year: from its title, else its first lines, else a year in the file name."""
    head = [title] + [line for line in text.splitlines()[:12] if line.strip()][:6]
    for line in head:
        m = _YEAR.search(line)
        if m:
            return int(m.group(1))
    m = _STEM_YEAR.search(stem)
    return int(m.group(1)) if m else None


def parse_report(text: str, source: str, params: ChunkingParams = ChunkingParams(), report_id: str = "",
                 fmt: str = "", meta: dict | None = None) -> Report:
    """Parse one report's text into passages. ``source`` is the file name used in citations."""
    meta = meta or {}
    report_id = report_id or Path(source).stem
    parsed = parse_layout(text, report_id, source, params, title=str(meta.get("title") or ""))
    year = meta.get("year") or find_year(parsed.title, text, report_id)
    info = ReportInfo(
        id=report_id, title=parsed.title,
        district=str(meta.get("district") or find_district(parsed.title, text)),
        year=int(year) if isinstance(year, (int, str)) and str(year).isdigit() else None,
        source=source, format=fmt or Path(source).suffix.lstrip(".").lower(), layout=parsed.layout,
        passages=len(parsed.chunks),
        departments=list(dict.fromkeys(c.dept for c in parsed.chunks if c.dept)),
    )
    return Report(info, text, parsed.chunks)


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


def _read_alias_file(corpus_dir: Path) -> dict:
    path = corpus_dir / ALIASES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f'{path}: expected {{"区XX局": ["简称", ...], ...}}')
    return data


def _alias_entries(data: object, where: str) -> dict[str, list[str]]:
    entries = {k: v for k, v in data.items() if not k.startswith("_")} if isinstance(data, dict) else None
    if entries is None or not all(isinstance(v, list) for v in entries.values()):
        raise CorpusError(f'{where}: expected {{"区XX局": ["简称", ...], ...}}')
    return {dept: [str(a) for a in names] for dept, names in entries.items()}


def load_extra_aliases(corpus_dir: Path) -> dict[str, list[str]]:
    """The aliases of ``aliases.json`` that apply to every report: department -> short names."""
    return _alias_entries(_read_alias_file(corpus_dir), str(corpus_dir / ALIASES_FILE))


def load_report_settings(corpus_dir: Path) -> dict[str, dict]:
    """``aliases.json``'s ``"_reports"``: report id -> {"district", "year", "title", "aliases"}."""
    data = _read_alias_file(corpus_dir).get(REPORTS_KEY, {})
    where = f"{corpus_dir / ALIASES_FILE}: {REPORTS_KEY}"
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CorpusError(f'{where}: expected {{"<report file stem>": {{"district": …, "aliases": {{…}}}}}}')
    settings = {}
    for report_id, entry in data.items():
        unknown = set(entry) - {"district", "year", "title", "aliases"}
        if unknown:
            raise CorpusError(f"{where}.{report_id}: unknown field(s) {sorted(unknown)}")
        entry = dict(entry)
        entry["aliases"] = _alias_entries(entry.get("aliases", {}), f"{where}.{report_id}.aliases")
        settings[report_id] = entry
    return settings


# ---------------------------------------------------------------- loading


def corpus_files(corpus_dir: Path, suffixes: tuple[str, ...] = CORPUS_SUFFIXES) -> list[Path]:
    return sorted(p for p in corpus_dir.iterdir()
                  if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))


def read_report_text(path: Path) -> str:
    """The decoded text of a .md/.txt report (UTF-8, GB18030/GBK or UTF-16)."""
    return decode_text(path.read_bytes(), path.name)[0]


def corpus_fingerprint(corpus_dir: Path) -> str:
    """sha256 over the names and bytes of every report and the alias file."""
    digest = hashlib.sha256()
    paths = corpus_files(corpus_dir) if corpus_dir.is_dir() else []
    if (corpus_dir / ALIASES_FILE).is_file():
        paths.append(corpus_dir / ALIASES_FILE)
    for p in paths:
        digest.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return digest.hexdigest()


def _file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes (``None`` when it cannot be read: its reader then says why)."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def load_corpus(corpus_dir: Path, params: ChunkingParams = ChunkingParams(), quiet: bool = False) -> Corpus:
    """Parse every report in ``corpus_dir``. Unreadable files are listed in ``errors`` and the summary."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    extra = load_extra_aliases(corpus_dir)
    per_report = load_report_settings(corpus_dir)
    reports: list[Report] = []
    errors: list[str] = []
    files: list[FileSummary] = []
    used_ids: set[str] = set()
    seen: dict[str, str] = {}  # sha256 of a file's bytes -> the file indexed with them
    for path in sorted(corpus_files(corpus_dir) + corpus_files(corpus_dir, UNSUPPORTED_SUFFIXES)):
        if path.suffix.lower() in UNSUPPORTED_SUFFIXES:
            errors.append(printable(f"{path.name}: {UNSUPPORTED}"))
            files.append(FileSummary(path.name, "skipped", path.suffix.lstrip(".").lower(), reason=UNSUPPORTED))
            continue
        report_id = path.stem if path.stem not in used_ids else f"{path.stem}.{path.suffix.lstrip('.').lower()}"
        digest = _file_digest(path)
        if digest in seen:  # the same report under another name: indexed once, or every answer says it twice
            files.append(FileSummary(path.name, "skipped", reason=f"the same content as {seen[digest]}: not indexed twice"))
            continue
        try:
            extracted = read_report_file(path)
            report = parse_report(extracted.text, path.name, params, report_id, extracted.format,
                                  per_report.get(report_id, {}))
        except CorpusError as exc:
            reason = str(exc).removeprefix(f"{path.name}: ")
            errors.append(printable(f"{path.name}: {reason}"))
            files.append(FileSummary(path.name, "skipped", reason=reason))
            if not quiet:
                print(printable(f"warning: skipped {path.name}: {reason}"), file=sys.stderr)
            continue
        if not report.chunks:
            errors.append(printable(f"{path.name}: no paragraphs to index"))
            files.append(FileSummary(path.name, "skipped", extracted.format, reason="no paragraphs to index"))
            continue
        report.info.encoding = extracted.encoding
        used_ids.add(report_id)
        if digest is not None:
            seen[digest] = path.name
        note = "layout not recognised: cut into paragraphs" if report.info.layout == "paragraphs" else ""
        files.append(FileSummary(path.name, "indexed", extracted.format, report.info.layout, len(report.chunks), note))
        reports.append(report)
    if not reports:
        detail = "; ".join(errors) if errors else "no .md/.txt/.docx/.pdf files"
        raise CorpusError(f"no readable report in {corpus_dir}: {detail}")
    corpus = Corpus(reports, {}, errors, corpus_fingerprint(corpus_dir), files)
    departments = corpus.departments
    corpus.aliases = build_alias_table(departments, extra)
    corpus.warnings += [f"{ALIASES_FILE}: {key!r} matches no department of any report"
                        for key in extra if key not in departments]
    ids = {r.id: r for r in reports}
    for report_id, entry in per_report.items():
        report = ids.get(report_id)
        if report is None:
            corpus.warnings.append(f"{ALIASES_FILE}: {REPORTS_KEY} names {report_id!r}, which is no report")
            continue
        for dept, names in entry["aliases"].items():
            if dept not in report.info.departments:
                corpus.warnings.append(f"{ALIASES_FILE}: {REPORTS_KEY}.{report_id}: {dept!r} is no department of it")
                continue
            for alias in names:
                report.info.aliases[alias] = dept
                corpus.aliases.setdefault(alias, dept)
    return corpus


def quoted_terms(text: str) -> list[str]:
    """Terms the report puts in quotes or book-title marks: “城市大脑”, “墅企通”, 《…》."""
    terms = {m.group(1).strip() for m in _QUOTED.finditer(text)}
    return sorted(t for t in terms if t and not re.search(r"[，。、；：\s]", t))
