"""Places, levels and years outside the library (qa/places.py), and the abbreviation rule for department
names (qa/retrieve.py): pure functions, no model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qa.places import (foreign_places, foreign_years, gazetteer, library_places, other_level_governments,
                       other_level_organisations, place_mentions)
from qa.retrieve import abbreviated_departments


@dataclass
class Report:
    district: str
    year: int | None


REPORTS = [Report("滨河区", 2021), Report("临江区", 2023), Report("临江区", 2024)]
CORPUS = "中共云州市滨河区委……全面融入云州主城……临江区新建学校……2020年完成……江州地铁"


def test_library_places_are_the_districts_and_their_short_names():
    assert library_places(REPORTS) == {"滨河区", "滨河", "临江区", "临江"}


def test_gazetteer_comes_from_jiebas_dictionary():
    places, short = gazetteer()
    assert {"余杭区", "宁波市", "江苏省"} <= places and {"宁波", "杭州"} <= short
    assert not {"城区", "社区", "开发区", "市区"} & places  # nouns, not place names
    assert "城" not in short  # 城市 is no city


@pytest.mark.parametrize("question, tagged, found", [
    ("西湖区城管局今年的重点工作", [("西湖", "ns"), ("区城管局", "x")], ["西湖区"]),  # glued to a department
    ("余杭区住建局加装电梯", [("余杭", "nr"), ("区住建局", "x")], ["余杭区"]),  # jieba's gazetteer, any segmentation
    ("宁波的小区微治理", [("宁波", "ns"), ("的", "uj")], ["宁波"]),  # a city without its level
    ("北京市朝阳区养老补贴", [("北京市", "ns"), ("朝阳区", "ns")], ["北京市", "朝阳区"]),
])
def test_places_named_outside_the_library(question, tagged, found):
    assert foreign_places(question, tagged, library_places(REPORTS), CORPUS) == found


@pytest.mark.parametrize("question, tagged", [
    ("滨河区新增多少学位", [("滨河", "ns"), ("区", "n")]),  # a library district
    ("临江今年建多少充电桩", [("临江", "ns")]),  # its short name
    ("云州市卫健委做什么", [("云州", "ns"), ("市卫健委", "n")]),  # mentioned by a report (the parent city)
    ("城市环境怎么治理", [("城市", "ns"), ("环境", "n")]),  # one character before the level
    ("园区企业上市", [("园区", "n"), ("上市", "ns")]),
    ("今年新建区级养老中心吗", [("新建", "ns"), ("区级", "n")]),  # 新建区 is a district, but 新建 a word
    ("城中村改造什么时候完成", [("城中村", "ns")]),
])
def test_places_inside_the_library_or_no_places_at_all(question, tagged):
    assert foreign_places(question, tagged, library_places(REPORTS), CORPUS + "新建") == []


def test_place_mentions_need_a_district_like_name():
    assert place_mentions("芦溪景区", [("芦溪景区", "ns")]) == []
    assert place_mentions("滨江区养老", [("滨江区", "ns")]) == [("滨江区", "滨江")]


def test_another_levels_organisation():
    matches = [(3, "区卫健委", "卫健委")]
    assert other_level_organisations("云州市卫健委今年重点", matches, CORPUS) == [("市卫健委", "区卫健委")]
    assert other_level_organisations("云州市卫健委今年重点", matches, CORPUS + "市卫健委") == []  # the reports name it
    assert other_level_organisations("滨河区卫健委今年重点", [(3, "区卫健委", "区卫健委")], CORPUS) == []
    assert other_level_organisations("卫健委今年重点", [(0, "区卫健委", "卫健委")], CORPUS) == []


def test_another_levels_government():
    assert other_level_governments("云州市政府2021年的工作重点", REPORTS, CORPUS) == ["云州市"]
    assert other_level_governments("江州市2024年政府工作报告的目标", REPORTS, CORPUS + "江州市") == ["江州市"]
    assert other_level_governments("滨河区政府工作报告", REPORTS, CORPUS) == []  # the library's level
    assert other_level_governments("智慧城市政府怎么建", REPORTS, CORPUS) == []  # 慧城市 is no place
    assert other_level_governments("云州市政府", [], CORPUS) == []  # no report says its level


def test_years_no_report_is_of_or_mentions():
    assert foreign_years("拱墅区2019年各部门的计划", REPORTS, CORPUS) == ["2019年"]
    assert foreign_years("2020年完成了什么", REPORTS, CORPUS) == []  # mentioned
    assert foreign_years("临江区2024年目标", REPORTS, CORPUS) == []  # a report's year
    assert foreign_years("12019年", REPORTS, CORPUS) == []


@pytest.mark.parametrize("word, found", [
    ("交通局", ["区交通运输局"]), ("卫健局", ["区卫生健康局"]), ("建设局", ["区住房和城乡建设局"]),
    ("公安局", []), ("交通委", []), ("卫局", []),
])
def test_abbreviations_of_department_names(word, found):
    assert abbreviated_departments(word, ["区交通运输局", "区卫生健康局", "区住房和城乡建设局", "区城管局"]) == found


def test_another_levels_organisation_is_named_in_full():
    assert other_level_organisations("云州市卫健委做什么", [(3, "区卫健局", "卫健")], CORPUS) == [("市卫健委", "区卫健局")]
