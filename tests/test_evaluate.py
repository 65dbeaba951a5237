"""The evaluation harness without the model: question-file parsing, scoring, metrics, intervals, comparison."""

import json
import math

import pytest

from qa.evaluation.evaluate import compare_runs, markdown_table, score_question, summarize, type_table
from qa.evaluation.gold import GoldSetError, load_gold, load_gold_files, Cited, check_against_corpus, parse_gold_line
from qa.evaluation.metrics import percentile, rank_metrics, Metric, bootstrap_interval, paired_compare
from qa.evaluation.systems import Ranked

SOURCE = "binhe-2021.md"


def test_rank_metrics_standard_definitions():
    m = rank_metrics([True, False, False], n_relevant=1)
    assert m["hit@1"] == 1.0 and m["mrr"] == 1.0 and m["ndcg@10"] == 1.0
    m = rank_metrics([False, False, True], n_relevant=1)
    assert m["hit@1"] == 0.0 and m["hit@3"] == 1.0 and m["mrr"] == pytest.approx(1 / 3)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(4))
    m = rank_metrics([True, False, True], n_relevant=2)
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / ideal)
    m = rank_metrics([False] * 10 + [True], n_relevant=1)
    assert m["hit@10"] == 0.0 and m["mrr"] == 0.0 and m["ndcg@10"] == 0.0


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile([], 50) == 0.0


def _row(kind, abstained, correct, qtype="lexical", **extra):
    return {"id": f"x{id(extra)}", "type": qtype, "kind": kind, "abstained": abstained, "correct": correct,
            "q": "q", "expected": "e", "top": []} | extra


HITS = {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "hit@10": 1.0, "mrr": 1.0, "ndcg@10": 1.0, "cited_chars": 100}


def test_summary_separates_ranking_from_end_to_end():
    rows = [
        _row("none", True, True, "none-absent"), _row("none", False, False, "none-absent"),
        _row("single", True, False, **HITS),  # ranked right, but refused: a ranking hit, an end-to-end miss
        _row("single", False, True, **HITS),
        _row("multi", False, False, "multi-department", **{"recall@5": 0.5, "all@5": False}),
    ]
    s = summarize(rows, [0.001, 0.003])
    assert s["hit@1"] == 1.0 and s["e2e_hit@1"] == 0.5
    assert s["abstain_precision"] == 0.5 and s["abstain_recall"] == 0.5 and s["false_abstentions"] == 1
    assert s["false_answers"] == 1 and s["abstained_unanswerable"] == "1/2" and s["multi_recall@5"] == 0.5
    assert s["e2e_accuracy"] == pytest.approx(2 / 5) and s["latency_p50_ms"] == 2.0
    assert s["by_type"]["none-absent"]["n"] == 2 and s["by_type"]["lexical"]["e2e_accuracy"] == 0.5
    lo, hi = s["intervals"]["e2e_accuracy"]
    assert 0.0 <= lo <= 0.4 <= hi <= 1.0
    table = markdown_table({"hybrid": s})
    assert "end to end" in table and "e2e_hit@1 | 0.500 [" in table
    assert "| none-absent | 2 |" in type_table(s)


def test_bootstrap_interval_is_seeded_and_covers_the_value():
    rows = [{"v": float(i % 4 != 0)} for i in range(200)]
    metric = Metric("share", lambda r: r["v"], lambda r: 1.0)
    first, second = bootstrap_interval(metric, rows), bootstrap_interval(metric, rows)
    assert first == second and first[0] < 0.75 < first[1] and first[1] - first[0] < 0.15
    assert bootstrap_interval(Metric("none", lambda r: 0.0, lambda r: 0.0), rows) is None


def test_paired_compare_detects_a_real_difference_and_not_a_null_one():
    metric = Metric("acc", lambda r: r["ok"], lambda r: 1.0)
    a = [{"ok": float(i % 2)} for i in range(100)]
    better = [{"ok": 1.0} for _ in range(100)]
    result = paired_compare(metric, a, better)
    assert result.delta == 0.5 and result.p_value < 0.01 and result.wins == 50 and result.losses == 0
    assert result.interval[0] > 0.3
    same = paired_compare(metric, a, [dict(r) for r in a])
    assert same.delta == 0.0 and same.p_value == 1.0
    with pytest.raises(ValueError):
        paired_compare(metric, a, a[:10])


# ---------------------------------------------------------------- the question-file format


def test_any_type_label_loads_and_none_decides_answerability(tmp_path):
    """``type`` is the evaluator's own label: a set with its own labels loads, and whether a question is
    answerable comes from ``none`` (an evaluator's "synonym" question is answerable, their "trap" is not)."""
    path = tmp_path / "mine.jsonl"
    path.write_text('{"q": "垃圾分类", "type": "synonym", "dept": ["区城管局"]}\n'
                    '{"q": "股票", "type": "trap", "none": true}\n'
                    '{"q": "天气", "type": "none-absent-but-answerable?", "must": ["x"]}\n', encoding="utf-8")
    gold = load_gold(path)
    assert [(g.type, g.answerable) for g in gold] == [("synonym", True), ("trap", False),
                                                      ("none-absent-but-answerable?", True)]


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    ('["q"]', "expected a JSON object"),
    ('{"dept": ["区城管局"], "must": ["x"]}', '"q" must be'),
    ('{"q": "x"}', 'give "dept"'),
    ('{"q": "x", "dept": ["a"], "none": true}', "takes none of"),
    ('{"q": "x", "dept": "区城管局"}', "non-empty list"),
    ('{"q": "x", "multi": []}', "non-empty list"),
    ('{"q": "x", "none": "yes"}', '"none" must be true'),
    ('{"q": "x", "dept": ["a"], "must": ["b"], "extra": 1}', "unknown field"),
    ('{"q": "x", "type": "", "none": true}', "must be a label"),
    ('{"q": "x", "type": "a\\u0007b", "none": true}', "must be a label"),
    ('{"q": "x", "type": "' + "t" * 61 + '", "none": true}', "must be a label"),
    ('{"q": "x", "type": "multi-department", "dept": ["a"]}', "needs multi"),
    ('{"q": "x", "type": "follow-up", "dept": ["a"]}', 'needs "history"'),
    ('{"q": "x", "type": "lexical", "dept": ["a"], "history": "那呢"}', "non-empty list"),
    ('{"q": "x", "type": "cross-report", "reports": ["a"], "report": "a"}', "not both"),
    ('{"q": "x", "reports": ["a", "b"]}', "cross-report"),
    ('{"q": "x", "type": "lexical", "dept": ["a"], "report": 3}', "must be a string"),
    ('{"q": "x", "id": "", "none": true}', '"id" must be'),
])
def test_malformed_gold_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"q": "ok", "none": true}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(GoldSetError) as err:
        load_gold(path)
    assert f"{path}:3" in str(err.value) and message in str(err.value)


def test_gold_file_problems(tmp_path):
    with pytest.raises(GoldSetError, match="no such file"):
        load_gold(tmp_path / "missing.jsonl")
    with pytest.raises(GoldSetError, match="folder"):
        load_gold(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(GoldSetError, match="no questions"):
        load_gold(empty)
    (tmp_path / "latin.jsonl").write_bytes('{"q": "\u00e9"}'.encode("latin-1"))
    with pytest.raises(GoldSetError, match="not UTF-8"):
        load_gold(tmp_path / "latin.jsonl")


def test_legacy_lines_get_an_id_and_a_type(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(obj, ensure_ascii=False) for obj in [
        {"q": "城管局在垃圾分类上做什么", "dept": ["区城管局"], "must": ["垃圾分类"]},
        {"q": "哪些部门提到了重要窗口", "multi": ["区民政局", "区数据资源局"]},
        {"q": "地铁几号线要开通", "none": True, "note": "absent"},
    ]), encoding="utf-8")
    single, multi, none = load_gold(good)
    assert (single.id, single.type, single.kind) == ("good:1", "legacy-dept", "single")
    assert (multi.type, multi.kind, none.type, none.kind, none.note) == ("legacy-multi", "multi", "legacy-none", "none",
                                                                         "absent")
    assert single.relevant("区城管局", "巩固垃圾分类成效") and not single.relevant("区民政局", "垃圾分类")


def test_new_fields_and_report_restriction():
    g = parse_gold_line(json.dumps({"id": "s-1", "type": "follow-up", "q": "那住建局呢？", "history": ["城管局做什么"],
                                    "dept": ["区住建局"], "must": ["加装电梯"], "report": "binhe-2021",
                                    "note": "ellipsis"}, ensure_ascii=False), "f:1")
    assert g.history == ["城管局做什么"] and g.report == "binhe-2021" and g.kind == "single"
    assert g.relevant("区住建局", "推进加装电梯", "binhe-2021.md")
    assert not g.relevant("区住建局", "推进加装电梯", "other-2020.md")
    assert g.to_json()["history"] == ["城管局做什么"]
    must_only = parse_gold_line('{"id": "s-2", "type": "paraphrase", "q": "电梯", "must": ["加装电梯"]}', "f:2")
    assert must_only.relevant("任何部门", "推进加装电梯") and not must_only.relevant("任何部门", "电梯")


def test_cross_report_recall_needs_each_report_with_the_department():
    g = parse_gold_line(json.dumps({"id": "l-1", "type": "cross-report", "q": "商务局今年有什么打算",
                                    "dept": ["区商务局"], "reports": ["a", "b"]}, ensure_ascii=False), "f:1")
    top = [Cited("1", "a.md", "区商务局", "x"), Cited("2", "b.md", "区民政局", "y")]
    assert g.recall(top) == 0.5
    assert g.recall(top + [Cited("3", "b.md", "区商务局", "z")]) == 1.0


def test_several_files_with_a_duplicate_id(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"id": "s-1", "type": "none-absent", "q": "x", "none": true}\n', encoding="utf-8")
    b.write_text('{"id": "s-2", "type": "none-chitchat", "q": "y", "none": true}\n', encoding="utf-8")
    assert [g.id for g in load_gold_files([a, b])] == ["s-1", "s-2"]
    b.write_text('{"id": "s-1", "type": "none-chitchat", "q": "y", "none": true}\n', encoding="utf-8")
    with pytest.raises(GoldSetError, match=r"b.jsonl:1: id 's-1' already used at .*a.jsonl:1"):
        load_gold_files([a, b])


def test_score_question_end_to_end():
    g = parse_gold_line('{"id": "s-1", "type": "lexical", "q": "q", "dept": ["区城管局"], "must": ["垃圾分类"]}', "f:1")
    right = [Cited("1", SOURCE, "区城管局", "巩固垃圾分类成效"), Cited("2", SOURCE, "区民政局", "养老")]
    row = score_question(g, Ranked(right, False, 0.01), n_relevant=1)
    assert row["hit@1"] == 1.0 and row["correct"] is True
    refused = score_question(g, Ranked(right, True, 0.01), n_relevant=1)
    assert refused["hit@1"] == 1.0 and refused["correct"] is False
    none = parse_gold_line('{"id": "s-2", "type": "none-absent", "q": "地铁", "none": true}', "f:2")
    assert score_question(none, Ranked(right, True, 0.01), 0)["correct"] is True
    assert score_question(none, Ranked(right, False, 0.01), 0)["correct"] is False


def test_check_against_corpus_finds_wrong_departments_and_must(sample_corpus):
    from qa.ingest.corpus import load_corpus

    corpus = load_corpus(sample_corpus)
    lines = [
        {"id": "ok", "type": "lexical", "q": "q", "dept": ["区城管局"], "must": ["垃圾分类"]},
        {"id": "typo", "type": "lexical", "q": "q", "dept": ["区城管"], "must": ["垃圾分类"]},
        {"id": "not-verbatim", "type": "lexical", "q": "q", "dept": ["区城管局"], "must": ["垃圾的分类"]},
        {"id": "wrong-dept", "type": "lexical", "q": "q", "dept": ["区民政局"], "must": ["垃圾分类"]},
        {"id": "stem", "type": "lexical", "q": "q", "dept": ["区民政局"], "must": ["养老"], "report": "nope"},
        {"id": "multi", "type": "multi-department", "q": "q", "multi": ["区民政局", "区城管局"]},
    ]
    questions = [parse_gold_line(json.dumps(obj, ensure_ascii=False), f"f:{n}") for n, obj in enumerate(lines, 1)]
    problems = check_against_corpus(questions, corpus)
    assert set(problems) == {"typo", "not-verbatim", "wrong-dept", "stem"}
    assert "unknown department" in problems["typo"][0] and "unknown report" in problems["stem"][0]


def _report(rows):
    return {"retrievers": {"hybrid": summarize(rows, [0.001], intervals=False) | {"questions": rows}}}


def test_compare_runs_pairs_questions_by_id():
    a_rows = [_row("single", False, i % 2 == 0, **HITS) | {"id": f"q{i}"} for i in range(40)]
    b_rows = [_row("single", False, True, **HITS) | {"id": f"q{i}"} for i in range(40)]
    b_rows.append(_row("none", True, True, "none-absent") | {"id": "extra"})
    comparison = compare_runs(_report(a_rows), _report(b_rows))["hybrid"]
    assert comparison["n_common"] == 40 and comparison["only_b"] == 1
    e2e = next(m for m in comparison["metrics"] if m["metric"] == "e2e_accuracy")
    assert e2e["delta"] == 0.5 and e2e["p_value"] < 0.01 and len(comparison["flips"]) == 20
    with pytest.raises(ValueError, match="not in both"):
        compare_runs(_report(a_rows), _report(b_rows), ["dense"])


def test_compare_command_needs_no_model(tmp_path, capsys):
    from qa.cli import main

    a_rows = [_row("single", False, i % 2 == 0, **HITS) | {"id": f"q{i}"} for i in range(30)]
    b_rows = [_row("single", False, True, **HITS) | {"id": f"q{i}"} for i in range(30)]
    for name, rows in (("a.json", a_rows), ("b.json", b_rows)):
        (tmp_path / name).write_text(json.dumps(_report(rows), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "cmp"
    code = main(["eval", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(out),
                 "--model", str(tmp_path / "no-model")])
    printed = capsys.readouterr().out
    assert code == 0 and "| e2e_accuracy | 30 | 0.500 | 1.000 | +0.500 |" in printed
    assert "| false_abstentions | 30 | 0 | 0 | +0 |" in printed
    assert json.loads((out / "compare.json").read_text(encoding="utf-8"))["hybrid"]["n_common"] == 30
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    assert main(["eval", "--compare", str(tmp_path / "a.json"), str(tmp_path / "bad.json")]) == 2
    assert "not an eval.json report" in capsys.readouterr().err


def test_rerank_depth_reorders_only_the_first_depth_candidates():
    from qa.evaluation.rerank_depth import hit_at

    row = {"relevant": [False, False, True], "fused": [0.9, 0.8, 0.1], "reader": [0.2, 0.1, 0.95]}
    assert not hit_at(row, 1, 0.0, 1) and not hit_at(row, 2, 0.0, 1)  # the answer is 3rd: outside depth 1 and 2
    assert hit_at(row, 3, 0.0, 1)  # read at depth 3, the reader puts it first
    assert not hit_at(row, 3, 1.0, 1)  # with the fused score weighing as much, 0.2 + 0.9 beats 0.95 + 0.1
    assert hit_at(row, 1, 0.0, 3)
