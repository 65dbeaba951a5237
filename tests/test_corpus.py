
import pytest

from qa.config import PROJECT_ROOT, ChunkingParams
from qa.ingest.corpus import build_alias_table, derive_aliases, load_corpus, parse_report, quoted_terms
from qa.ingest.document import CorpusError, chinese_numeral, parse_chinese_numeral
from qa.ingest.layouts import item_markers


def test_real_report_items_and_exact_offsets():
    corpus = load_corpus(PROJECT_ROOT / "corpus")
    assert len(corpus.departments) == 10
    assert corpus.departments[0] == "区城改办" and corpus.departments[-1] == "区科技工业区委"
    for chunk in corpus.chunks:
        assert corpus.source_text(chunk.source)[chunk.start:chunk.end] == chunk.text
        for s, e in chunk.clauses:
            assert chunk.start <= s < e <= chunk.end
    items = [c for c in corpus.chunks if c.dept == "区民政局" and c.kind == "item"]
    assert [c.item_no for c in items] == [1, 2, 3, 4, 5]
    # 一是 … ；二是: a semicolon-separated item still starts its own chunk
    assert items[1].text.startswith("二是推进康养体系建设")
    assert items[0].text.endswith("“城市大脑”；")
    lead = next(c for c in corpus.chunks if c.dept == "区城管局" and c.kind == "lead")
    assert lead.text.startswith("区城管局第一时间") and "一是" not in lead.text
    garbage = next(c for c in corpus.chunks if c.dept == "区城管局" and c.item_no == 1)
    assert "垃圾分类" in garbage.text and garbage.headline == "提升城市治理水平 营造优美优质城市环境"
    assert garbage.id == "gongshu-departments-plenum-2020/区城管局/item1"
    assert garbage.index_text(ChunkingParams()).startswith("区城管局：提升城市治理水平")
    assert garbage.dense_text(ChunkingParams()).startswith("区城管局：一是在环境治理上")


def test_ids_are_unique_and_stable():
    first = [c.id for c in load_corpus(PROJECT_ROOT / "corpus").chunks]
    second = [c.id for c in load_corpus(PROJECT_ROOT / "corpus").chunks]
    assert first == second and len(set(first)) == len(first)


def test_item_markers_count_up_and_ignore_words():
    text = "导语。一是统一是非标准。二是做好工作；三是其他"
    assert [n for _, n in item_markers(text)] == [1, 2, 3]
    assert item_markers("第三是重点。二是不算") == []
    assert parse_chinese_numeral("十二") == 12 and chinese_numeral(12) == "十二" and chinese_numeral(20) == "二十"


def test_headingless_file_falls_back_to_paragraphs_without_department(tmp_path):
    text = "社区工作简报\n\n今年社区完成了加装电梯十二部。居民满意度明显提升。\n\n明年计划继续推进老旧小区改造。"
    report = parse_report(text, "brief.txt")
    assert report.title == "社区工作简报" and report.info.layout == "paragraphs"
    assert {c.dept for c in report.chunks} == {""}
    assert [c.kind for c in report.chunks] == ["paragraph", "paragraph"]
    assert [c.id for c in report.chunks] == ["brief/p1", "brief/p2"]
    for c in report.chunks:
        assert text[c.start:c.end] == c.text


def test_long_headingless_paragraph_is_cut_at_sentences():
    sentence = "这是一个用于测试切分的句子，长度大约二十个字。"
    text = sentence * 40
    report = parse_report(text, "long.txt", ChunkingParams(max_chars=100))
    assert len(report.chunks) > 5
    assert all(len(c.text) <= 100 for c in report.chunks)
    assert all(c.text.endswith("。") for c in report.chunks)
    assert "".join(c.text for c in report.chunks) == text


def test_bad_files_are_named_and_skipped(tmp_path, sample_corpus, capsys):
    (sample_corpus / "empty.md").write_text("", encoding="utf-8")
    (sample_corpus / "latin1.md").write_bytes("Ça coûte très cher à Zürich".encode("latin-1") + bytes(range(128, 160)))
    (sample_corpus / "blank.txt").write_text("   \n\n  ", encoding="utf-8")
    (sample_corpus / "punct.md").write_text("。。。！！", encoding="utf-8")
    (sample_corpus / "fake.docx").write_bytes(b"not a zip file")
    (sample_corpus / "fake.pdf").write_bytes(b"%PDF-1.4 garbage")
    corpus = load_corpus(sample_corpus)
    assert [r.source for r in corpus.reports] == ["sample.md"]
    joined = "\n".join(corpus.errors)
    assert "empty.md: the file is empty" in joined
    assert "latin1.md: unknown text encoding" in joined
    assert "blank.txt: the file is empty" in joined
    assert "punct.md: no text" in joined
    assert "fake.docx: encrypted or not a .docx" in joined
    assert "fake.pdf: not a readable PDF" in joined
    assert "latin1.md" in capsys.readouterr().err
    skipped = {f.name for f in corpus.files if f.status == "skipped"}
    assert skipped == {"empty.md", "latin1.md", "blank.txt", "punct.md", "fake.docx", "fake.pdf"}


def test_corpus_with_no_readable_file_fails_clearly(tmp_path):
    (tmp_path / "a.md").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CorpusError, match="no readable report.*a.md"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_aliases_derived_and_from_data_file():
    assert derive_aliases("区城管局") == ["城管局", "城管"]
    assert derive_aliases("区科技工业区委") == ["科技工业区委", "科技工业区"]
    table = load_corpus(PROJECT_ROOT / "corpus").aliases
    assert table["城管"] == "区城管局"
    assert table["发改局"] == "区发改经信局"
    assert table["园区"] == "区科技工业区委"
    assert table["文旅局"] == "区文广旅体局"
    # every department has at least one short name that is not derivable
    for dept in set(table.values()):
        short_names = [a for a, d in table.items() if d == dept and a != dept and a not in derive_aliases(dept)]
        assert short_names, f"{dept} has no short name in corpus/aliases.json"
    assert build_alias_table(["区城管局"], {"区不存在局": ["不存在"]}) == {"区城管局": "区城管局", "城管局": "区城管局", "城管": "区城管局"}


def test_alias_file_errors_name_the_file(sample_corpus):
    (sample_corpus / "aliases.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(CorpusError, match="aliases.json"):
        load_corpus(sample_corpus)


def test_quoted_terms():
    terms = quoted_terms("以建设“城市大脑”为契机，探索“墅企通”新路径，打造“造价合理质量好、套型舒适功能全”。")
    assert "城市大脑" in terms and "墅企通" in terms
    assert all("、" not in t for t in terms)


@pytest.mark.parametrize("title, district", [
    ("青山区2022年各部门重点工作汇编", "青山区"),  # ends like 山区, but begins the title
    ("2022年西山区政府工作报告", "西山区"),  # after a year
    ("梧川市东城区2023年工作要点", "东城区"),  # after a city
    ("西山区市场监督管理局2023年食品安全工作实施方案", "西山区"),
    ("偏远山区教育发展报告", ""),
    ("关于推进山区发展的意见", ""),
    ("老城区有机更新方案", ""),
    ("开发区2023年工作要点", ""),
])
def test_district_from_the_title(title, district):
    from qa.ingest.corpus import find_district

    assert find_district(title, title + "\n\n正文。") == district


def test_a_speakers_title_is_no_district():
    from qa.ingest.corpus import find_district

    assert find_district("政府工作报告", "政府工作报告\n\n西山人民政府区长　林志诚\n各位代表：") == ""


# ---------------------------------------------------------------- issue 17, item 7: the build summary


def test_doc_and_wps_files_get_a_line_saying_to_save_as_docx(sample_corpus):
    (sample_corpus / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    (sample_corpus / "kingsoft.WPS").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    corpus = load_corpus(sample_corpus, quiet=True)
    summary = corpus.summary()
    assert "  old.doc: skipped — unsupported format: save as .docx" in summary
    assert "  kingsoft.WPS: skipped — unsupported format: save as .docx" in summary
    assert [r.source for r in corpus.reports] == ["sample.md"]


def test_control_characters_in_file_names_are_escaped(sample_corpus):
    forged = "x.md\n  sample.md: md, department-compilation, 999 passages\x1b[31m\u202e.md"
    (sample_corpus / forged).write_text("。。。", encoding="utf-8")  # skipped: no text
    summary = load_corpus(sample_corpus, quiet=True).summary()
    assert len(summary.splitlines()) == 2, summary  # one line per file: the name forged none
    assert "\x1b" not in summary and "\u202e" not in summary
    assert "x.md\\n  sample.md: md, department-compilation, 999 passages\\x1b[31m\\u202e.md: skipped" in summary


def test_an_encrypted_docx_says_so():
    """Word saves a password-protected .docx as an OLE compound file holding the encrypted package."""
    from qa.ingest.document import CorpusError
    from qa.ingest.readers import read_report_file
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        locked = Path(tmp) / "locked.docx"
        locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"EncryptedPackage" + b"\0" * 4096)
        with pytest.raises(CorpusError, match="locked.docx: encrypted or not a .docx"):
            read_report_file(locked)


def test_the_same_content_under_two_names_is_indexed_once(sample_corpus):
    (sample_corpus / "sample2.md").write_bytes((sample_corpus / "sample.md").read_bytes())
    corpus = load_corpus(sample_corpus, quiet=True)
    assert [r.source for r in corpus.reports] == ["sample.md"]
    assert "  sample2.md: skipped — the same content as sample.md: not indexed twice" in corpus.summary()
    assert len({c.text for c in corpus.chunks}) == len(corpus.chunks)
