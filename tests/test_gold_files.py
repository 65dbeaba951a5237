"""The committed question files: they load, they match the reports, and the dev/test split is the one
eval/split.py makes (seeded, stratified by type), with no question in both halves. No model needed."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter

import pytest

from qa.config import PROJECT_ROOT
from qa.evaluation.gold import ANSWERABLE_TYPES, UNANSWERABLE_TYPES, check_against_corpus, load_gold, parse_gold_line
from qa.ingest.corpus import load_corpus

EVAL = PROJECT_ROOT / "eval"
SHIPPED = ("questions.jsonl", "dev.jsonl", "dev-extra.jsonl", "test.jsonl")
LIBRARY = ("library-dev.jsonl", "library-dev-extra.jsonl", "library-test.jsonl")


def _split_module():
    spec = importlib.util.spec_from_file_location("split", EVAL / "split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SHIPPED + LIBRARY)
def test_question_files_load_in_the_new_format(name):
    questions = load_gold(EVAL / name)
    assert all(not g.type.startswith("legacy-") for g in questions)
    assert len({g.id for g in questions}) == len(questions)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_questions_match_the_report_passages(name):
    questions = load_gold(EVAL / name)
    assert check_against_corpus(questions, load_corpus(PROJECT_ROOT / "corpus")) == {}


def test_dev_and_test_are_disjoint_and_cover_every_type():
    for dev_name, test_name in (("dev.jsonl", "test.jsonl"), ("library-dev.jsonl", "library-test.jsonl")):
        dev, test = load_gold(EVAL / dev_name), load_gold(EVAL / test_name)
        assert not {g.id for g in dev} & {g.id for g in test}
        assert not {(g.q, tuple(g.history)) for g in dev} & {(g.q, tuple(g.history)) for g in test}
    test = load_gold(EVAL / "test.jsonl")
    types = Counter(g.type for g in test)
    assert set(types) == set(ANSWERABLE_TYPES + UNANSWERABLE_TYPES) - {"report-named", "cross-report"}
    assert sum(n for t, n in types.items() if t.startswith("none-")) >= 30


@pytest.mark.parametrize("name", ["shipped", "library"])
def test_the_split_is_the_seeded_stratified_one(name):
    split = _split_module()
    source = EVAL / "blind" / f"{name}-blind.jsonl"
    dev, test, log = split.make_split(name, source)
    config = split.SPLITS[name]
    assert split.dump(dev) == config["dev"].read_text(encoding="utf-8")
    assert split.dump(test) == config["test"].read_text(encoding="utf-8")
    committed = json.loads((EVAL / "splits" / f"{name}.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in committed.items() if k != "date"} == {k: v for k, v in log.items() if k != "date"}
    questions, _ = split.read_blind(source)
    repeats = log["to_dev_as_repeats_of_the_first_gold_set"]
    assert all(g.id not in repeats for g in test)
    for qtype, n in Counter(g.type for g in questions if g.id not in repeats).items():  # 40 % of each type in dev
        blind_ids = {g.id for g in questions}
        assert sum(g.type == qtype and g.id in blind_ids and g.id not in repeats for g in dev) == round(0.4 * n)


def test_repeats_of_the_first_gold_set_are_found():
    split = _split_module()
    first = [parse_gold_line('{"id": "g-1", "type": "lexical", "q": "城中村改造什么时候全部完成", "must": ["改造"]}', "f:1")]
    again = parse_gold_line('{"id": "s-1", "type": "lexical", "q": "城中村改造什么时候全面完成？", "must": ["改造"]}', "f:2")
    other = parse_gold_line('{"id": "s-2", "type": "lexical", "q": "城中村改造涉及多少户", "must": ["改造"]}', "f:3")
    assert split.seen_before([again, other], first) == {"s-1": "g-1"}


def test_department_typos_are_repaired_only_when_unambiguous():
    split = _split_module()
    known = ["区城管局", "区民政局", "区住建局", "区商务局"]
    assert split.repair_department("区城管", known) == "区城管局"
    assert split.repair_department("城管局", known) == "区城管局"
    assert split.repair_department("区文广旅休局", known + ["区文广旅体局"]) == "区文广旅体局"
    assert split.repair_department("区民正局", known) is None  # short names one character apart: not guessed
    assert split.repair_department("区局", known) is None  # matches several
    assert split.repair_department("区财政局", known) is None


def test_the_text_check_finds_what_is_not_in_the_reports():
    split = _split_module()
    texts = {"a": "### 区城管局\n巩固垃圾分类成效。", "b": "### 区民政局\n养老床位。"}
    lines = [
        {"id": "ok", "type": "lexical", "q": "q", "dept": ["区城管局"], "must": ["垃圾分类"], "report": "a"},
        {"id": "wrong-report", "type": "lexical", "q": "q", "dept": ["区城管局"], "must": ["垃圾分类"], "report": "b"},
        {"id": "stem", "type": "lexical", "q": "q", "must": ["养老"], "report": "c"},
        {"id": "cross", "type": "cross-report", "q": "q", "dept": ["区城管局"], "reports": ["a", "b"]},
    ]
    questions = [parse_gold_line(json.dumps(obj, ensure_ascii=False), f"f:{n}") for n, obj in enumerate(lines, 1)]
    assert set(split.text_problems(questions, texts)) == {"wrong-report", "stem", "cross"}


@pytest.mark.skipif(not (EVAL / "library").is_dir(), reason="eval/library/ (the library corpus) is not in this checkout")
@pytest.mark.parametrize("name", LIBRARY)
def test_library_questions_match_the_report_passages(name, tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(EVAL / "library", corpus)
    for report in (PROJECT_ROOT / "corpus").glob("*.md"):
        if not (corpus / report.name).exists():
            shutil.copy(report, corpus / report.name)
    assert check_against_corpus(load_gold(EVAL / name), load_corpus(corpus)) == {}


@pytest.mark.parametrize("name", ["shipped", "library"])
def test_the_second_blind_batch_is_dev_only_and_nothing_like_test(name):
    split = _split_module()
    config = split.SPLITS[name]
    dev, log = split.make_extra_dev(name, EVAL / "blind" / f"{name}-blind-2.jsonl")
    assert split.dump(dev) == config["second_batch_dev"].read_text(encoding="utf-8")
    test = load_gold(config["test"])
    assert split.seen_before(dev, test) == {}  # no near-repeat of a test question is tuned on
    earlier = load_gold(config["dev"])
    assert not {g.id for g in dev} & {g.id for g in test + earlier}
    committed = json.loads((EVAL / "splits" / f"{name}-extra-dev.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in committed.items() if k != "date"} == log
