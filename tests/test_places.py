"""Places, levels and years outside the library (qa/search/places.py), and the abbreviation rule for department
names (qa/search/retrieve.py): no model; jieba's real segmentation and gazetteer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qa.search.places import (foreign_places, foreign_years, gazetteer, library_places, missing_work_reports,
                              other_level_governments, other_level_organisations, place_mentions)
from qa.search.retrieve import abbreviated_departments
from qa.search.tokens import Tokenizer


@dataclass
class Report:
    district: str
    year: int | None
    title: str = ""


REPORTS = [Report("滨河区", 2021), Report("临江区", 2023), Report("临江区", 2024, "2024年临江区人民政府工作报告")]
CORPUS = ("中共云州市滨河区委……全面融入云州主城……临江区新建学校……2020年完成……江州地铁……新增海绵城市达标面积……"
          "《滨河区国民经济和社会发展第十四个五年规划和二〇三五年远景目标纲要》……在上海、深圳设立招商联络处")
DEPARTMENTS = ["区卫健局", "区商务局", "区住建局", "区数据资源局", "区城管局", "区交通运输局", "区民政局"]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(DEPARTMENTS, {d: d for d in DEPARTMENTS}).load()


def _foreign(tokenizer, question, corpus=CORPUS):
    return foreign_places(place_mentions(question, tokenizer.tagged(question)), library_places(REPORTS), corpus)


def test_library_places_are_the_districts_and_their_short_names():
    assert library_places(REPORTS) == {"滨河区", "滨河", "临江区", "临江"}


def test_gazetteer_comes_from_jiebas_dictionary():
    places = gazetteer()
    assert {"余杭区", "宁波市", "江苏省", "朝阳区"} <= places
    assert not {"城区", "社区", "开发区", "市区", "各省市"} & places  # nouns and generic names, not places


@pytest.mark.parametrize("question, found", [
    ("西湖区城管局今年的重点工作", ["西湖区"]),  # glued to a department: 西湖 + 区城管局
    ("余杭区住建局加装电梯", ["余杭区"]),  # jieba's gazetteer
    ("北京市朝阳区养老补贴", ["北京市", "朝阳区"]),
    ("滨江区养老服务有哪些", ["滨江区"]),
])
def test_places_named_outside_the_library(tokenizer, question, found):
    assert sorted(_foreign(tokenizer, question)) == sorted(found)


@pytest.mark.parametrize("question", [
    "滨河区新增多少学位", "临江今年建多少充电桩",  # the library's districts
    "云州市卫健委做什么",  # a place the reports mention (the parent city)
    "城市环境怎么治理", "园区企业上市", "城中村改造什么时候完成",  # one character before the level, or no level
    "乡村振兴区域协调发展", "城市南部县城发展", "大都市区建设", "长三角区域一体化",  # gazetteer names inside words
    "怎么保障社会安宁", "各省市有什么经验", "宁波的小区微治理",  # no level: left to the model
    "今年新建区级养老中心吗",  # 新建区 is a district, but 新建 a word the reports use
    "江湾、临渡两处夜间经济试点区有什么安排",  # 试点区 is no place name
])
def test_no_foreign_place(tokenizer, question):
    assert _foreign(tokenizer, question, CORPUS + "新建") == []


def test_place_mentions_need_a_district_like_name(tokenizer):
    assert place_mentions("芦溪景区", tokenizer.tagged("芦溪景区")) == []


@pytest.mark.parametrize("question, matches, found", [
    ("云州市卫健委今年重点", [(3, "区卫健局", "卫健")], [("市卫健委", "区卫健局")]),  # named in full
    ("滨河区卫健局今年重点", [(2, "区卫健局", "区卫健局")], []),  # the district's own
    ("卫健局今年重点", [(0, "区卫健局", "卫健局")], []),
    ("夜市商务局怎么培育", [(2, "区商务局", "商务局")], []),  # 夜市 is a word: no level before 商务局
    ("海绵城市住建局怎么建", [(4, "区住建局", "住建局")], []),
    ("推动企业上市商务局做什么", [(6, "区商务局", "商务局")], []),
    ("滨河城管局在云州市城管考核中排第几", [(2, "区城管局", "城管局"), (9, "区城管局", "城管")], []),  # a topic
    ("滨河区城管局力争在市城管局考核中排第几", [(2, "区城管局", "区城管局"), (10, "区城管局", "城管局")], []),
])
def test_another_levels_organisation(tokenizer, question, matches, found):
    assert other_level_organisations(question, tokenizer.tagged(question), matches, CORPUS) == found


def test_another_levels_organisation_the_reports_mention_is_theirs(tokenizer):
    question = "云州市卫健委今年重点"
    assert other_level_organisations(question, tokenizer.tagged(question), [(3, "区卫健局", "卫健")],
                                     CORPUS + "市卫健委") == []


@pytest.mark.parametrize("question, found", [
    ("云州市政府2021年的工作重点", ["云州市"]),
    ("江州市2024年政府工作报告的目标", ["江州市"]),
    ("滨河区政府工作报告", []),  # the library's level
    ("滨河区海绵城市政府投资多少", []),  # 海绵城市 is no place
    ("智慧城市政府怎么建", []),
])
def test_another_levels_government(tokenizer, question, found):
    mentions = place_mentions(question, tokenizer.tagged(question))
    assert other_level_governments(question, mentions, REPORTS) == found
    assert other_level_governments(question, mentions, []) == []  # no level known


@pytest.mark.parametrize("question, found", [
    ("拱墅区2019年各部门的计划", ["2019年"]),
    ("2020年完成了什么", []),  # mentioned
    ("临江区2024年目标", []),  # a report's year
    ("滨河区2035年远景目标纲要", []),  # mentioned in Chinese numerals
    ("十四五规划（2021-2025年）有哪些重点", []),  # the end of a range
    ("到2030年要达到什么目标", []),  # a target
    ("2025年之前拱墅区的总目标是什么", []), ("2019年以来有哪些变化", []),
    ("12019年", []),
])
def test_years_no_report_is_of_or_mentions(question, found):
    assert foreign_years(question, REPORTS, CORPUS) == found


def test_government_work_reports_the_library_does_not_hold():
    assert missing_work_reports("临江区2022年政府工作报告讲了哪些重点", REPORTS) == ["2022年政府工作报告"]
    assert missing_work_reports("2022年临江区人民政府工作报告的目标", REPORTS) == ["2022年政府工作报告"]
    assert missing_work_reports("2024年政府工作报告里医院什么时候投用", REPORTS) == []
    assert missing_work_reports("2021年的工作计划有哪些", REPORTS) == []  # only work reports are named by year


@pytest.mark.parametrize("word, found", [
    ("交通局", ["区交通运输局"]), ("卫健局", ["区卫生健康局"]), ("建设局", ["区住房和城乡建设局"]),
    ("公安局", []), ("交通委", []), ("卫局", []),
])
def test_abbreviations_of_department_names(word, found):
    assert abbreviated_departments(word, ["区交通运输局", "区卫生健康局", "区住房和城乡建设局", "区城管局"]) == found
