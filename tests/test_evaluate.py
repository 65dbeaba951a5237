import json
import math

import pytest

from qa.evaluate import GoldSetError, load_gold, percentile, rank_metrics, summarize


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


def test_summary_counts_abstention():
    rows = [
        {"kind": "none", "abstained": True}, {"kind": "none", "abstained": False},
        {"kind": "dept", "abstained": True, "hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "hit@10": 1.0, "mrr": 1.0,
         "ndcg@10": 1.0, "cited_chars": 100},
        {"kind": "multi", "abstained": False, "recall@5": 0.5},
    ]
    s = summarize(rows, [0.001, 0.003])
    assert s["abstain_precision"] == 0.5 and s["abstain_recall"] == 0.5 and s["false_abstentions"] == 1
    assert s["abstained_unanswerable"] == "1/2" and s["multi_recall@5"] == 0.5
    assert s["latency_p50_ms"] == 2.0


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    ('["q"]', "expected a JSON object"),
    ('{"dept": ["区城管局"], "must": ["x"]}', '"q" must be'),
    ('{"q": "x"}', "exactly one of"),
    ('{"q": "x", "dept": ["a"], "none": true}', "exactly one of"),
    ('{"q": "x", "dept": "区城管局"}', "non-empty list"),
    ('{"q": "x", "multi": []}', "non-empty list"),
    ('{"q": "x", "none": "yes"}', '"none" must be true'),
    ('{"q": "x", "dept": ["a"], "must": ["b"], "extra": 1}', "unknown field"),
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
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(GoldSetError, match="no questions"):
        load_gold(empty)
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"q": "城管局在垃圾分类上做什么", "dept": ["区城管局"], "must": ["垃圾分类"]}, ensure_ascii=False),
                    encoding="utf-8")
    (question,) = load_gold(good)
    assert question.relevant("区城管局", "巩固垃圾分类成效") and not question.relevant("区民政局", "垃圾分类")
