"""Places and government levels a question names, judged against the library.

A question about a district, city or province that no report is about and no report mentions
(西湖区…, 北京市朝阳区…), or about another level's organisation (云州市卫健委 when the reports are
district plans: 区卫健委), asks outside the library: nothing in it can answer, whatever the passages
score. ``foreign_places`` finds such names; the retriever records them on the query and the
answer-or-abstain policy refuses them before its model, naming them.

Places are found three ways, each needing at least two characters before the level (城市, 上市, 里区
are no places): a name of jieba's own gazetteer (its dictionary's place names, tag ns, that end in
省/市/区/县: 余杭区, 宁波市) anywhere in the text, whatever the segmentation; a city's or province's name
without its level when it is a word of its own (宁波, 上海); and a word jieba tags as a place that ends
with a level character or is followed by one (滨江区, 西湖 + 区城管局), where a 区 / 县 name must also look
like a district name (``qa.corpus.is_district_name``: 园区, 景区, 社区 are not). A place counts as
foreign only when neither its name nor its name without the level occurs in any report, so 新建区
(a district, but 新建 is a word the reports use) never does.

A year works the same way: a question about 2019年 when no report is of 2019 and none mentions it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from qa.corpus import is_district_name

LEVELS = "省市区县"
# A level character in front of a district department's alias names another level's organisation:
# 市卫健委, 省教育厅, 县民政局 (the reports' departments are 区卫健委, 区民政局 …).
OTHER_LEVELS = "省市县"
_ORG_SUFFIX = re.compile(r"(?:委员会|办公室|委|局|办|厅|处|中心)?")


_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})\s*年")


@lru_cache(maxsize=1)
def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """(names with their level, city / province names without it) from jieba's dictionary: its place
    names (ns) ending in 省/市/区/县 with two characters or more before the level; the short form of an
    X市 / X省 only when X is itself one of its place names (宁波市 → 宁波, 江苏省 → 江苏)."""
    places, bare = set(), set()
    for line in resources.files("jieba").joinpath("dict.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "ns":
            bare.add(parts[0])
            if len(parts[0]) >= 3 and parts[0][-1] in LEVELS:
                places.add(parts[0])
    short = {name[:-1] for name in places if name[-1] in "市省" and name[:-1] in bare}
    return frozenset(places), frozenset(short)


def library_places(reports) -> set[str]:
    """The districts the library's reports are about, with their short names (临江区, 临江)."""
    names = {r.district for r in reports if r.district}
    return names | {d[:-1] for d in names if len(d) >= 3}


def place_mentions(text: str, tagged: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name with its level, name without it) of each place a question names: 西湖 + 区 → (西湖区, 西湖)."""
    places, short = gazetteer()
    found = []
    for m in re.finditer(f"[{LEVELS}]", text):
        end = m.end()
        for start in range(max(0, end - 8), end - 2):
            if text[start:end] in places:
                found.append((text[start:end], text[start:end - 1]))
                break
    found += [(word, word) for word, _ in tagged if word in short]
    for i, (word, tag) in enumerate(tagged):
        if tag != "ns" or len(word) < 2:
            continue
        following = tagged[i + 1][0] if i + 1 < len(tagged) else ""
        if word[-1] in LEVELS:
            name, stem = word, word[:-1]
        elif following and following[0] in LEVELS:
            name, stem = word + following[0], word
        else:
            continue
        if len(stem) < 2 or (name[-1] in "区县" and not is_district_name(name[-3:])):
            continue
        found.append((name, stem))
    return list(dict.fromkeys(found))


def foreign_places(text: str, tagged: list[tuple[str, str]], places: set[str], corpus_text: str) -> list[str]:
    """Places a question names that no report is about and no report's text mentions."""
    out = []
    for name, stem in place_mentions(text, tagged):
        if name in places or stem in places or name in corpus_text or stem in corpus_text:
            continue
        if name not in out:
            out.append(name)
    return out


def other_level_organisations(text: str, matches: list[tuple[int, str, str]], corpus_text: str) -> list[tuple[str, str]]:
    """(name, department) of each department alias a question puts behind another level (市卫健委 for
    区卫健委), when the reports never mention that organisation. ``matches``: (position, dept, alias)."""
    out = []
    for pos, dept, alias in matches:
        if pos == 0 or alias[0] in LEVELS or not dept.startswith("区") or text[pos - 1] not in OTHER_LEVELS:
            continue
        end = pos + len(alias)
        name = text[pos - 1:end] + _ORG_SUFFIX.match(text, end).group()  # 市 + 卫健 + 委
        if name not in corpus_text:
            out.append((name, dept))
    return out


def foreign_years(text: str, reports, corpus_text: str) -> list[str]:
    """Years a question names (2019年) that no report is of and no report mentions."""
    years = {str(r.year) for r in reports if getattr(r, "year", None)}
    return [f"{y}年" for y in dict.fromkeys(_YEAR.findall(text)) if y not in years and y not in corpus_text]


# A government named with its level: 云州市政府, 江州市人民政府, 江州市2024年政府工作报告, 某某省委.
_GOVERNMENT = re.compile(r"([\u4e00-\u9fff]{2,3}[省市县])(?:人民)?(?:政府|党委|委员会)|"
                         r"([\u4e00-\u9fff]{2,3}[省市县])[0-9０-９年\s]{0,6}(?:的)?政府工作报告")


def other_level_governments(text: str, reports, corpus_text: str) -> list[str]:
    """Governments of a level no report is at (云州市政府 when every report is a district's), named by
    a place the reports mention or jieba's gazetteer knows."""
    levels = {r.district[-1] for r in reports if r.district}
    if not levels:
        return []
    places, _ = gazetteer()
    out = []
    for m in _GOVERNMENT.finditer(text):
        name = m.group(1) or m.group(2)
        if name[-1] not in levels and (name in corpus_text or name in places) and name not in out:
            out.append(name)
    return out
