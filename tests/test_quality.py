"""The gold set must keep hybrid retrieval above the committed thresholds (eval/thresholds.json)."""

import json

import pytest

from qa.config import PROJECT_ROOT
from qa.evaluate import DEFAULT_QUESTIONS, run_eval

THRESHOLDS = json.loads((PROJECT_ROOT / "eval" / "thresholds.json").read_text())


@pytest.fixture(scope="module")
def report(built):
    return run_eval(DEFAULT_QUESTIONS, ["hybrid"], built, out_dir=None, progress=False)


def test_gold_set_shape():
    lines = [json.loads(line) for line in DEFAULT_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) >= 60
    assert sum("none" in line for line in lines) >= 8
    assert sum("multi" in line for line in lines) >= 2
    depts = {d for line in lines for d in line.get("dept", [])}
    assert len(depts & {"区城改办", "区民政局", "区住建局", "区文广旅体局", "区三方办", "区发改经信局", "区商务局",
                        "区城管局", "区数据资源局", "区科技工业区委"}) == 10


@pytest.mark.parametrize("metric", ["hit@1", "hit@5", "mrr", "ndcg@10", "multi_recall@5", "abstain_recall"])
def test_hybrid_meets_threshold(report, metric):
    value = report["retrievers"]["hybrid"][metric]
    assert value >= THRESHOLDS[metric], f"hybrid {metric} = {value} < {THRESHOLDS[metric]}; misses: {report['misses']['hybrid']}"


def test_false_abstentions_stay_rare(report):
    assert report["retrievers"]["hybrid"]["false_abstentions"] <= THRESHOLDS["max_false_abstentions"]
