"""Fusion, routing, follow-ups and abstention without the model: the stub encoder of tests/stub.py over a
three-department fixture report. Each test runs in milliseconds; retrieval quality with the real model is
tests/test_quality.py's job."""

from __future__ import annotations

import re

import numpy as np
import pytest
from stub import HashEncoder

from qa.pipeline import QuestionError, Turn
from qa.search.retrieve import Retriever, _minmax, _rrf


def test_hash_encoder_is_deterministic_unit_length_and_lexical():
    enc = HashEncoder()
    a, b, c = enc.encode(["垃圾分类成效", "垃圾分类", "加装电梯"])
    assert np.allclose(enc.encode(["垃圾分类成效"])[0], a)
    assert np.isclose(np.linalg.norm(a), 1.0) and np.isclose(np.linalg.norm(enc.encode([""])[0]), 1.0)
    assert a @ b > a @ c
    assert enc.encode([]).shape == (0, enc.dim)


def test_fusion_scales_and_ranks():
    allowed = np.array([True, True, True, False])
    scaled = _minmax(np.array([1.0, 3.0, 2.0, 99.0]), allowed)
    assert scaled[:3].tolist() == [0.0, 1.0, 0.5]
    assert _minmax(np.array([2.0, 2.0, 2.0, 2.0]), allowed).tolist() == [0.0] * 4
    rrf = _rrf(np.array([0.1, 0.9, 0.5, 0.0]), allowed)
    assert rrf[1] > rrf[2] > rrf[0]


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_each_mode_ranks_the_passage_with_the_words_first(stub_qa, mode):
    retriever = Retriever(stub_qa.index, stub_qa.retriever.encoder, mode=mode)
    hits = retriever.search("垃圾分类有什么成效", k=3)
    assert "垃圾分类" in hits[0].chunk.text and hits[0].chunk.dept == "区城管局"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_combines_both_signals(stub_qa):
    hit = stub_qa.search("加装电梯", k=1)[0]
    assert hit.keyword > 0 and hit.dense > 0 and "加装电梯" in hit.chunk.text


def test_a_named_department_routes_the_search(stub_qa):
    hits = stub_qa.search("民政局明年做什么工作", k=5)
    assert hits and {h.chunk.dept for h in hits} == {"区民政局"}
    hits = stub_qa.search("城管局在做什么", k=5)  # organisation-like alias: routes hard
    assert {h.chunk.dept for h in hits} == {"区城管局"}
    hits = stub_qa.search("城管在做什么", k=5)  # a short name that can be an ordinary word only prefers
    assert hits[0].chunk.dept == "区城管局"


def test_the_dept_option_restricts_and_unknown_departments_are_refused(stub_qa):
    hits = stub_qa.search("改造", k=5, dept="区住建局")
    assert {h.chunk.dept for h in hits} == {"区住建局"}
    with pytest.raises(QuestionError, match="未知部门"):
        stub_qa.search("改造", k=5, dept="区教育局")


def test_a_cross_department_question_cites_one_passage_per_department(stub_qa):
    hits = stub_qa.search("哪些部门提到了全会精神", k=5)
    assert {h.chunk.dept for h in hits[:3]} == {"区城管局", "区民政局", "区住建局"}  # the best of each first


def test_a_follow_up_takes_the_topic_from_the_history(stub_qa):
    first = stub_qa.ask("城管局怎么学习全会精神")
    assert not first.abstained and first.citations[0].dept == "区城管局"
    # (a topic 住建局 also covers: "住建局在垃圾分类上做什么" is rightly refused by the answerability model)
    follow = stub_qa.ask("那住建局呢？", history=[Turn("城管局怎么学习全会精神", first.answer)])
    assert follow.question == "那住建局呢？"
    assert follow.citations and {c.dept for c in follow.citations} == {"区住建局"}


def test_a_follow_up_without_a_department_stays_with_the_previous_one(stub_qa):
    answer = stub_qa.ask("还有改造呢？", history=[Turn("住建局明年做什么")])
    # whether it is answered is the model's call on the stub encoder's (meaningless) cosines; the routing is the point
    assert answer.understood_as == "区住建局还有改造呢？"
    assert stub_qa.search(answer.understood_as)[0].chunk.dept == "区住建局"


def test_without_history_the_question_is_taken_as_asked(stub_qa):
    assert stub_qa.resolve_followup("那住建局呢？", None) == "那住建局呢？"
    assert stub_qa.resolve_followup("那住建局呢？", []) == "那住建局呢？"


@pytest.mark.parametrize("question", ["地铁几号线什么时候开通", "股票怎么开户", "亚运会门票怎么买"])
def test_questions_the_report_does_not_cover_abstain(stub_qa, question):
    answer = stub_qa.ask(question)
    assert answer.abstained and not answer.citations and "报告中没有提到" in answer.answer


@pytest.mark.parametrize("question, dept", [("认知症照护有什么安排", "区民政局"), ("公租房筹集多少套", "区住建局"),
                                            ("城管局做了什么", "区城管局")])
def test_questions_the_report_covers_are_answered_with_a_citation(stub_qa, question, dept):
    answer = stub_qa.ask(question)
    assert not answer.abstained and answer.citations[0].dept == dept
    assert re.search(r"\[\d\]", answer.answer)


def test_the_harness_passes_history_and_scores_end_to_end(stub_qa, tmp_path):
    from qa.evaluation.evaluate import evaluate_system
    from qa.evaluation.gold import load_gold
    from qa.evaluation.systems import PipelineSystem

    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join([
        '{"id": "a", "type": "lexical", "q": "城管局在垃圾分类上做什么", "dept": ["区城管局"], "must": ["垃圾分类"]}',
        '{"id": "b", "type": "follow-up", "q": "那住建局呢？", "history": ["城管局怎么学习全会精神"], '
        '"dept": ["区住建局"]}',
        '{"id": "c", "type": "lexical", "q": "养老床位新增多少", "must": ["养老床位"], "report": "another-report"}',
        '{"id": "d", "type": "none-absent", "q": "地铁几号线什么时候开通", "none": true}',
        '{"id": "e", "type": "multi-department", "q": "哪些部门提到了全会精神", "multi": ["区民政局", "区住建局"]}',
    ]), encoding="utf-8")
    result = evaluate_system(PipelineSystem("hybrid", None, qa=stub_qa), load_gold(gold), progress=False)
    rows = {r["id"]: r for r in result["questions"]}
    assert rows["a"]["correct"] and rows["b"]["correct"] and rows["b"]["history"] == ["城管局怎么学习全会精神"]
    assert rows["c"]["hit@10"] == 0.0 and not rows["c"]["correct"]  # right words, wrong report
    assert rows["d"]["correct"] and rows["d"]["abstained"] and rows["e"]["recall@5"] == 1.0
    assert result["e2e_accuracy"] == 0.8 and result["abstain_precision"] == 1.0
    assert set(result["by_type"]) == {"lexical", "follow-up", "none-absent", "multi-department"}


@pytest.mark.parametrize("question, named", [
    ("西湖区城管局在垃圾分类上做什么", "西湖区"),  # another district, glued to a department the report has
    ("北京市朝阳区的垃圾分类", "北京市"),
    ("余杭区住建局公租房筹集多少套", "余杭区"),
    ("2019年城管局做了什么", "2019年"),  # a year the report is not of and never mentions
])
def test_questions_outside_the_library_are_refused_naming_the_place(stub_qa, question, named):
    answer = stub_qa.ask(question)
    assert answer.abstained and not answer.citations and answer.confidence == 0.0
    assert f"没有关于{named}" in answer.answer


def test_the_library_level_decides_what_is_another_level(stub_qa):
    query = stub_qa.retriever.analyze("市城管局在垃圾分类上做什么")  # the city's, not the district's 区城管局
    assert query.foreign == ["市城管局"] and "区城管局" not in query.depts
    assert stub_qa.retriever.analyze("城管局在垃圾分类上做什么").foreign == []
