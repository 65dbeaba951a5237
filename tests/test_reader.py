"""The reader: its committed adapter and card, the index manifest that records it, its ONNX export's scores
(the real trained model), reranking, and the short district names that restrict a question."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from qa.reader import model as reader_model
from qa.reader.pairs import SPLITS, data_sha256, load_pairs, split_of
from qa.reader.model import ReaderMissingError, adapter_sha256, passage_text, reader_fingerprint
from qa.search.retrieve import named_reports

from test_library import BINHE, SHIPPED, _reports


def _report(id_, district, title="", year=None):
    return SimpleNamespace(id=id_, district=district, title=title or id_, year=year)


def test_an_unambiguous_short_district_name_restricts_like_the_full_name():
    reports = [_report("a", "临江区", year=2024), _report("b", "临江区", year=2023), _report("c", "拱墅区"),
               _report("d", "云溪区"), _report("e", "云溪县")]
    assert named_reports("拱墅垃圾分类怎么做", reports) == (["c"], [])
    hard, prefer = named_reports("临江2024年新增多少学位", reports)
    assert set(hard) == {"a", "b"} and prefer == ["a"]  # both of 临江's reports, that year's first
    # 云溪 is the short name of two places (云溪区, 云溪县): it only prefers
    hard, prefer = named_reports("云溪今年修几条路", reports)
    assert hard == [] and set(prefer) == {"d", "e"}
    assert named_reports("云溪区今年修几条路", reports)[0] == ["d"]


def test_the_library_answers_a_short_district_name_from_that_district(library_qa):
    answer = library_qa.ask("滨河新增多少个学位", k=5)
    assert set(_reports(answer)) == {BINHE}
    hits = library_qa.search("拱墅城管局垃圾分类", k=5)
    assert {h.chunk.report for h in hits} == {SHIPPED}


def test_a_named_report_that_does_not_answer_says_which_report_does(library_qa):
    # the metro is in 临江区's reports; 拱墅区's report does not mention it
    answer = library_qa.ask("拱墅区地铁设了几个站", k=5)
    assert not answer.abstained, answer.answer
    assert answer.answer.startswith("拱墅区的报告没有提到这一问题；临江区的报告中有：")
    assert all(c.report_id != SHIPPED and "地铁" in c.text for c in answer.citations[:1])
    assert any("来自" in n for n in answer.notices)


def test_the_committed_adapter_is_the_one_the_card_records():
    card = json.loads(reader_model.card_path().read_text(encoding="utf-8"))
    fingerprint = reader_fingerprint()
    assert fingerprint["sha256"] == card["adapter_sha256"] == adapter_sha256()
    assert fingerprint["version"] == card["version"]
    assert card["adapter_bytes"] < 10_000_000  # an adapter and a head, not a model
    assert card["data_sha256"] == data_sha256()  # trained on the data committed beside it


def test_a_changed_adapter_is_refused_by_name(tmp_path, monkeypatch):
    copy = tmp_path / "adapter"
    shutil.copytree(reader_model.adapter_dir(), copy)
    before = adapter_sha256(copy)
    config = copy / "adapter_config.json"
    config.write_text(config.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert adapter_sha256(copy) != before
    monkeypatch.setattr(reader_model, "adapter_dir", lambda: copy)
    with pytest.raises(ReaderMissingError, match="changed or damaged"):
        reader_fingerprint()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(reader_model, "adapter_dir", lambda: empty)
    with pytest.raises(ReaderMissingError, match="train-reader"):
        reader_fingerprint()


def test_an_index_built_for_another_reader_is_stale(built):
    from qa.pipeline import answer_models
    from qa.search.index import IndexUnusable, ReportIndex

    models = answer_models()
    other = {**models, "reader": {"version": "r-other", "sha256": "0" * 64}}
    ReportIndex.load(built.index_dir, built, answer_models=models)
    with pytest.raises(IndexUnusable):
        ReportIndex.load(built.index_dir, built, answer_models=other)


def test_the_split_is_by_whole_report_and_eval_stays_out():
    from qa.reader.pairs import DATA_DIR

    splits = split_of()
    assert set(splits.values()) <= set(SPLITS)
    for name in SPLITS:  # each report lies in the folder of its split
        assert {p.stem for p in (DATA_DIR / "reports" / name).iterdir()} == {s for s, n in splits.items() if n == name}
    for name in SPLITS:
        pairs = load_pairs(name)
        assert {p.report for p in pairs} <= {s for s, n in splits.items() if n == name}
    from qa.config import PROJECT_ROOT
    eval_stems = {p.stem for p in (PROJECT_ROOT / "eval" / "library").iterdir()} | {"gongshu-departments-plenum-2020"}
    assert not eval_stems & set(splits)


def test_the_reader_prefers_the_passage_that_answers(qa):
    """The trained reader, through its ONNX export: an answering passage above a same-topic one that does
    not answer, and a question the passage has nothing for scored low."""
    reader = qa.reader
    answers = passage_text("区城管局", "1. 巩固垃圾分类成效，确保生活垃圾零增长目标。")
    near = passage_text("区城管局", "3. 推进背街小巷整治，完成道路整治提升12条。")
    scores = reader.score("城管局在垃圾分类上做什么", [answers, near])
    assert scores[0] > 0.2 and scores[0] > 4 * scores[1]
    assert reader.score("明天杭州会下雨吗", [answers])[0] < 0.1
    assert list(reader.score("垃圾分类", [])) == []


def test_reranking_reorders_only_the_candidates_it_read(qa):
    from qa.reader.rerank import RERANK_DEPTH

    plain = qa.retriever.search("垃圾分类", 8)
    ranked = qa.search("垃圾分类", k=8)
    assert {h.chunk.id for h in ranked[:RERANK_DEPTH]} == {h.chunk.id for h in plain[:RERANK_DEPTH]}
    assert [h.chunk.id for h in ranked[RERANK_DEPTH:]] == [h.chunk.id for h in plain[RERANK_DEPTH:]]
    assert all(h.reader is not None and 0.0 <= h.reader <= 1.0 for h in ranked[:RERANK_DEPTH])
    assert all(h.reader is None for h in ranked[RERANK_DEPTH:])
