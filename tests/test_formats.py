"""Readers and layouts without the model: every format and encoding, every layout, exact offsets."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import LIBRARY_DIR
from formats import markdown_to_plain, write_docx, write_format, write_pdf, write_scanned_pdf, write_text
from qa.config import PROJECT_ROOT
from qa.ingest.corpus import load_corpus, parse_report
from qa.ingest.readers import decode_text, read_report_file

GWR = LIBRARY_DIR / "linjiang-government-work-report-2024.md"
BINHE = LIBRARY_DIR / "binhe-departments-2021.md"
PLAN = LIBRARY_DIR / "linjiang-departments-plan-2023.txt"
SHIPPED = PROJECT_ROOT / "corpus" / "gongshu-departments-plenum-2020.md"


def _parse(path):
    extracted = read_report_file(path)
    report = parse_report(extracted.text, path.name, report_id=path.stem, fmt=extracted.format)
    for chunk in report.chunks:  # exact offsets into the extracted text, for every passage
        assert report.text[chunk.start:chunk.end] == chunk.text
        for s, e in chunk.clauses:
            assert chunk.start <= s < e <= chunk.end
    assert len({c.id for c in report.chunks}) == len(report.chunks)
    return report


def test_work_report_layout():
    report = _parse(GWR)
    info = report.info
    assert (info.layout, info.title, info.district, info.year) == \
        ("work-report", "2024年临江区人民政府工作报告", "临江区", 2024)
    assert all(c.dept == "" for c in report.chunks)
    # 1. items under （一） under 二、: the heading chain, the label, a stable id
    rail = next(c for c in report.chunks if "江州地铁7号线" in c.text and c.item_label == "2.")
    assert rail.section == ["二、2024年工作安排", "（三）加快城市更新和交通提升", "2."]  # （三） is a bold line
    assert rail.kind == "item" and rail.item_no == 2
    assert rail.id == "linjiang-government-work-report-2024/二/三/2/p2"
    # 一是 inside a paragraph
    items = [c for c in report.chunks if c.section[-1:] == ["（五）织密养老托育就业保障网"]]
    assert [c.item_label for c in items] == ["一是", "二是", "三是", "四是"]
    # part 三 (#### headings) is not filed under the last section of part 二
    honest = next(c for c in report.chunks if "八项规定" in c.text)
    assert honest.section == ["三、全面加强政府自身建设", "（四）坚持廉洁从政"]
    assert {c.section[0] for c in report.chunks if c.section} >= {"一、2023年工作回顾", "二、2024年工作安排"}


def test_department_compilation_layouts():
    shipped = _parse(SHIPPED)
    assert shipped.info.layout == "department-compilation" and len(shipped.chunks) == 48
    binhe = _parse(BINHE)
    assert binhe.info.layout == "department-compilation"
    assert (binhe.info.district, binhe.info.year) == ("滨河区", 2021)
    assert len(binhe.info.departments) == 9 and "区教育局" in binhe.info.departments
    item = next(c for c in binhe.chunks if c.dept == "区教育局" and c.item_no == 1)
    assert item.id == "binhe-departments-2021/区教育局/item1" and item.item_label == "一是"
    assert item.section[-2:] == ["区教育局", "扩增优质学位 办好家门口的好学校"]
    # plain text: 一、区教育局 headings, 1. paragraphs and （1） items inside a paragraph
    plan = _parse(PLAN)
    assert (plan.info.layout, plan.info.district, plan.info.year, plan.info.format) == \
        ("department-compilation", "临江区", 2023, "txt")
    assert plan.info.departments == ["区教育局", "区卫健局", "区交通运输局", "区城管局", "区民政局", "区住建局",
                                     "区商务局", "区数据资源局"]
    health = [c for c in plan.chunks if c.dept == "区卫健局" and c.kind == "item"]
    assert [c.item_label for c in health] == ["（1）", "（2）", "（3）", "（4）", "（5）"]
    school = next(c for c in plan.chunks if "建成投用学校6所" in c.text)
    assert school.dept == "区教育局" and school.item_label == "1." and school.kind == "item"


def test_plain_text_keeps_departments(tmp_path):
    """The shipped report as plain text: ▶ lines stay departments, headlines stay headlines."""
    path = write_text(SHIPPED.read_text(encoding="utf-8"), tmp_path / "shipped.txt", "utf-8")
    report = _parse(path)
    assert report.info.layout == "department-compilation"
    assert report.info.departments == _parse(SHIPPED).info.departments
    garbage = next(c for c in report.chunks if c.dept == "区城管局" and c.item_no == 1)
    assert garbage.headline == "提升城市治理水平 营造优美优质城市环境" and len(garbage.text) > 20


def test_unrecognised_layout_falls_back_to_paragraphs():
    text = "今年社区完成了加装电梯十二部。居民满意度明显提升。\n\n明年计划继续推进老旧小区改造，并增加停车位。"
    report = parse_report(text, "note.txt")
    assert report.info.layout == "paragraphs" and [c.dept for c in report.chunks] == ["", ""]


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-16", "utf-16-le", "utf-8-sig"])
def test_text_encodings_are_detected(encoding):
    text = markdown_to_plain(GWR.read_text(encoding="utf-8"))
    decoded, found = decode_text(text.encode(encoding), "x.txt")
    assert decoded.lstrip("\ufeff") == text
    assert found in {"gb18030", "utf-16", "utf-16-le", "utf-8"}


@pytest.mark.parametrize("source", [GWR, BINHE, PLAN], ids=lambda p: p.stem)
@pytest.mark.parametrize("fmt", ["gb18030.txt", "utf16.txt", "docx", "pdf"])
def test_every_format_gives_the_same_report(tmp_path, source, fmt):
    original = _parse(source)
    path = write_format(source, tmp_path, fmt)
    report = _parse(path)
    squeeze = lambda s: re.sub(r"\s|[#*]", "", s)  # noqa: E731
    assert squeeze(report.text) == squeeze(markdown_to_plain(source.read_text(encoding="utf-8")))
    assert report.info.layout == original.info.layout
    assert (report.info.district, report.info.year) == (original.info.district, original.info.year)
    assert report.info.departments == original.info.departments
    assert abs(len(report.chunks) - len(original.chunks)) <= 4
    # the passages that carry the facts are the same passages
    for chunk in original.chunks:
        if chunk.kind == "item":
            assert any(squeeze(c.text) == squeeze(chunk.text) and c.dept == chunk.dept for c in report.chunks), chunk.id


def test_docx_headings_and_word_numbering(tmp_path):
    report = _parse(write_docx(GWR.read_text(encoding="utf-8"), tmp_path / "gwr.docx"))
    assert report.info.title == "2024年临江区人民政府工作报告"  # the Title style
    rail = next(c for c in report.chunks if "江州地铁7号线" in c.text)
    assert rail.text.startswith("2.") and rail.item_label == "2."  # the number came from Word's list numbering
    assert rail.section[:2] == ["二、2024年工作安排", "（三）加快城市更新和交通提升"]


def test_pdf_rejoins_lines_and_drops_headers_footers_page_numbers(tmp_path):
    md = BINHE.read_text(encoding="utf-8")
    path = write_pdf(md, tmp_path / "binhe.pdf", header="云州市滨河区人民政府办公室　内部资料")
    from pypdf import PdfReader

    assert len(PdfReader(str(path)).pages) >= 4
    text = read_report_file(path).text
    assert "内部资料" not in text and not re.search(r"^- \d+ -$", text, re.M)
    # a sentence the page width broke over two lines is whole again
    sentence = "一是加快学校建设。2021年新建学校5所，其中滨河外国语学校、芦溪小学等3所于9月1日开学，全年新增学位6300个。"
    assert sentence in text
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    assert "### ▶ 区教育局".replace("### ", "") in paragraphs


def test_scanned_pdf_is_reported_not_indexed(tmp_path, sample_corpus):
    write_scanned_pdf(sample_corpus / "scan.pdf")
    corpus = load_corpus(sample_corpus, quiet=True)
    assert [r.source for r in corpus.reports] == ["sample.md"]
    summary = corpus.summary()
    assert "scan.pdf: skipped — no text layer: OCR it first" in summary
    assert "sample.md: md, department-compilation" in summary


def test_report_settings_and_alias_warnings(sample_corpus):
    (sample_corpus / "aliases.json").write_text(json.dumps({
        "区城管局": ["城管部门"], "区不存在局": ["不存在"],
        "_reports": {"sample": {"district": "测试区", "year": 2022, "aliases": {"区民政局": ["民政办"]}},
                     "nope": {"district": "某区"}},
    }, ensure_ascii=False), encoding="utf-8")
    corpus = load_corpus(sample_corpus, quiet=True)
    info = corpus.reports[0].info
    assert (info.district, info.year) == ("测试区", 2022)
    assert info.aliases == {"民政办": "区民政局"} and corpus.aliases["民政办"] == "区民政局"
    warnings = "\n".join(corpus.warnings)
    assert "'区不存在局' matches no department" in warnings and "'nope', which is no report" in warnings
    (sample_corpus / "aliases.json").write_text(json.dumps({"_reports": {"sample": {"colour": 1}}}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown field"):
        load_corpus(sample_corpus, quiet=True)


def test_same_stem_in_two_formats_gets_two_ids(tmp_path):
    shutil.copy(BINHE, tmp_path / BINHE.name)
    write_format(BINHE, tmp_path, "docx")
    corpus = load_corpus(tmp_path, quiet=True)
    assert sorted(r.id for r in corpus.reports) == ["binhe-departments-2021", "binhe-departments-2021.md"]


def _build(corpus, index, *flags):
    return subprocess.run([sys.executable, "-m", "qa", "build", "--quiet", *flags, "--corpus", str(corpus),
                           "--index", str(index)], capture_output=True, text=True, timeout=600)


def test_build_strict_and_nothing_indexable(tmp_path, sample_corpus, model_dir):
    write_scanned_pdf(sample_corpus / "scan.pdf")
    proc = _build(sample_corpus, tmp_path / "index", "--strict")
    assert proc.returncode == 2 and "scan.pdf: skipped — no text layer: OCR it first" in proc.stderr
    assert not (tmp_path / "index").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    write_scanned_pdf(empty / "scan.pdf")
    proc = _build(empty, tmp_path / "index")
    assert proc.returncode == 2 and "no readable report" in proc.stderr and "OCR it first" in proc.stderr


def test_library_questions_parse_with_reports():
    from qa.evaluation.gold import load_gold, parse_gold_line

    gold = load_gold(PROJECT_ROOT / "eval" / "library-questions.jsonl")
    kinds = [g.kind for g in gold]
    assert len(gold) >= 40 and kinds.count("reports") >= 5 and kinds.count("none") >= 5
    reports = {g.report for g in gold if g.kind == "single"}
    assert reports == {"binhe-departments-2021", "linjiang-government-work-report-2024",
                       "linjiang-departments-plan-2023"}
    work = parse_gold_line('{"q": "地铁7号线设几个站", "must": ["设站5座"], "report": "gwr"}', "x:1")
    assert work.relevant("", "区内设站5座", "gwr.md") and not work.relevant("", "区内设站5座", "other.md")
    cross = parse_gold_line('{"q": "商务局", "type": "cross-report", "dept": ["区商务局"], "reports": ["a", "b"]}', "x:2")
    assert cross.kind == "reports" and cross.reports == ["a", "b"]


def test_numbers_past_ninety_nine_stay_arabic():
    from qa.ingest.document import chinese_numeral

    assert chinese_numeral(99) == "九十九" and chinese_numeral(100) == "100" and chinese_numeral(-1) == "-1"


def test_a_docx_zip_bomb_is_refused_before_inflating(tmp_path):
    import zipfile

    from qa.ingest.readers import MAX_ZIP_RATIO
    from qa.ingest.document import CorpusError

    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "0" * (8 * 2**20))  # 8 MB of one character: ~1000 times smaller
    assert bomb.stat().st_size * MAX_ZIP_RATIO < 8 * 2**20
    with pytest.raises(CorpusError, match="zip bomb"):
        read_report_file(bomb)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(bomb, corpus / "bomb.docx")
    (corpus / "ok.md").write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    assert "bomb.docx: skipped" in load_corpus(corpus, quiet=True).summary()
    read_report_file(write_docx(GWR.read_text(encoding="utf-8"), tmp_path / "gwr.docx"))  # an ordinary one reads


def test_a_pdf_with_too_many_pages_is_refused(tmp_path, monkeypatch):
    import qa.ingest.readers
    from qa.ingest.document import CorpusError

    path = write_pdf(BINHE.read_text(encoding="utf-8"), tmp_path / "binhe.pdf")
    monkeypatch.setattr(qa.ingest.readers, "MAX_PDF_PAGES", 2)
    with pytest.raises(CorpusError, match="pages, more than 2; split it"):
        read_report_file(path)
