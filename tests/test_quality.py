"""The quality gate: hybrid retrieval and the answer/abstain decision, with the real model, on the TEST split
(eval/test.jsonl, blind questions nobody tuned on), must stay above the floors in eval/thresholds.json.

Tune on eval/dev.jsonl (``python -m qa eval``); never on test. How the floors were set: eval/thresholds.json.
"""

import json

import pytest

from qa.config import PROJECT_ROOT
from qa.evaluation.evaluate import TEST_QUESTIONS, run_eval
from qa.evaluation.gold import load_gold

THRESHOLDS = json.loads((PROJECT_ROOT / "eval" / "thresholds.json").read_text(encoding="utf-8"))
FLOORS = {k: v for k, v in THRESHOLDS.items() if not k.startswith(("_", "max_")) and not isinstance(v, dict)}
LIBRARY = THRESHOLDS["library"]
LIBRARY_FLOORS = {k: v for k, v in LIBRARY.items() if not k.startswith(("_", "max_"))}
LIBRARY_TEST = PROJECT_ROOT / "eval" / "library-test.jsonl"


@pytest.fixture(scope="module")
def report(built):
    return run_eval(TEST_QUESTIONS, ["hybrid"], built, out_dir=None, progress=False)


def test_test_split_shape():
    questions = load_gold(TEST_QUESTIONS)
    assert len(questions) >= 90
    assert sum(not g.answerable for g in questions) >= 30
    assert sum(g.kind == "multi" for g in questions) >= 4 and sum(bool(g.history) for g in questions) >= 5
    depts = {d for g in questions for d in g.dept + g.multi}
    assert len(depts & {"区城改办", "区民政局", "区住建局", "区文广旅体局", "区三方办", "区发改经信局", "区商务局",
                        "区城管局", "区数据资源局", "区科技工业区委"}) == 10


def _misses(report) -> str:
    return "; ".join(f"{m['id']} {m['q']}" for m in report["misses"]["hybrid"])


@pytest.mark.parametrize("metric", sorted(FLOORS))
def test_hybrid_meets_floor_on_test(report, metric):
    value = report["retrievers"]["hybrid"][metric]
    assert value is not None and value >= FLOORS[metric], \
        f"hybrid {metric} = {value} < {FLOORS[metric]} on {TEST_QUESTIONS.name}; misses: {_misses(report)}"


@pytest.mark.parametrize("count", ["false_abstentions", "false_answers"])
def test_wrong_decisions_stay_under_ceiling(report, count):
    value = report["retrievers"]["hybrid"][count]
    assert value <= THRESHOLDS[f"max_{count}"], f"hybrid {count} = {value}; misses: {_misses(report)}"


# ---------------------------------------------------------------- the library: corpus/ + eval/library/


@pytest.fixture(scope="module")
def library_report(library, library_qa):
    from qa.evaluation.evaluate import evaluate_system
    from qa.evaluation.systems import PipelineSystem

    return evaluate_system(PipelineSystem("hybrid", library, qa=library_qa), load_gold(LIBRARY_TEST), progress=False)


@pytest.mark.parametrize("metric", sorted(LIBRARY_FLOORS))
def test_hybrid_meets_floor_on_library_test(library_report, metric):
    value = library_report[metric]
    assert value is not None and value >= LIBRARY_FLOORS[metric], f"hybrid {metric} = {value} on {LIBRARY_TEST.name}"


@pytest.mark.parametrize("count", ["false_abstentions", "false_answers"])
def test_library_wrong_decisions_stay_under_ceiling(library_report, count):
    assert library_report[count] <= LIBRARY[f"max_{count}"], f"hybrid {count} = {library_report[count]}"
