"""Places, government levels and years a question names, judged against the library.

A question about a district, city or province that no report is about and no report mentions
(西湖区…, 北京市朝阳区…), or about another level's organisation or government (云州市卫健委, 云州市政府
when the reports are a district's), asks outside the library: nothing in it can answer, whatever the
passages score. The retriever records such names on the query (``Query.foreign``) and the
answer-or-abstain policy refuses them before its model, naming them.

A place is a name with its level (省/市/区/县), at least two characters before the level (城市, 上市,
里区 are no places), found two ways, both on jieba's word boundaries of the question:

- a name of jieba's own gazetteer (its dictionary's place names, tag ns, that end in a level: 余杭区,
  宁波市) that begins a word and whose level ends a word or begins a level word (余杭 + 区住建局; not
  南部 + 县城, not 长三角 + 区域, not 都市区 inside 大都市区);
- a word jieba tags as a place that ends with a level or is followed by a level word (滨江区, 西湖 +
  区城管局, 云州 + 市政府), where a 区 / 县 name must also look like a district name
  (``qa.ingest.corpus.is_district_name``: 园区, 景区, 社区 are not).

A place counts as foreign only when neither its name nor its name without the level occurs in any
report, so 新建区 (a district, but 新建 is a word the reports use) never does. A city named without its
level (宁波) is left to the model: too many such names are ordinary words (安宁, 大都, 京都).

A year works the same way: a question about 2019年 when no report is of 2019 and none mentions it (in
digits or in Chinese numerals: 二〇三五年), unless it ends a range or bounds a period (2021-2025年, 到2025年,
2025年之前, 2019年以来);
and a government work report named by a year the library holds no work report of (2022年政府工作报告).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from qa.ingest.corpus import is_district_name

LEVELS = "省市区县"
# A level character in front of a district department's alias names another level's organisation:
# 市卫健委, 省教育厅, 县民政局 (the reports' departments are 区卫健委, 区民政局 …).
OTHER_LEVELS = "省市县"
_ORG_SUFFIX = re.compile(r"(?:委员会|办公室|委|局|办|厅|处|中心)?")
_ORG_END = re.compile(r"(?:委员会|办公室|委|局|办|厅|处|中心)$")
# A word after a place name that puts it at a level: the level alone, or an organisation of that level.
_LEVEL_WORD = re.compile(r"^[省市区县](?:[\u4e00-\u9fff]*(?:局|委|办|厅|处|中心|政府|法院|检察院))?$")
# Quantifiers and deictics that make a "place" generic: 各省市, 全市, 本区, 外省.
_GENERIC_START = set("各全本该每外两多诸我他")
# A government named after a place: 云州市政府, 江州市人民政府, 某某省委, 江州市2024年政府工作报告.
_GOVERNMENT_AFTER = re.compile(r"(?:人民)?(?:政府|党委|委员会)|[0-9０-９年\s]{0,6}的?政府工作报告")

# A year as questions and reports write it (2023年); group 1 is its digits.
YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})\s*年")
_RANGE_OR_TARGET = re.compile(r"[到至~～\-—–]\s*$")  # before the year: 2021-2025年, 到2030年, 截至2025年
_TARGET_AFTER = re.compile(r"\s*(?:底)?(?:之前|以前|前|以来|以后|之后|起)")  # after it: 2025年之前, 2019年以来
_DIGITS = "〇一二三四五六七八九"
# A government work report named by its year: 2022年政府工作报告, 2022年临江区人民政府工作报告.
_WORK_REPORT_YEAR = re.compile(r"((?:19|20)[0-9]{2})\s*年度?的?[\u4e00-\u9fff]{0,5}?政府工作报告")
# An organisation-like word: at least two characters before an organisation suffix (教育局, 卫健委,
# 区公安局), so 好处, 大厅 and 市中心 are not organisations.
_ORG_WORD = re.compile(r"^[\u4e00-\u9fff]{2,10}(?:局|委|委员会|办公室|厅|署|管理处|服务中心)$")
_LOCATIVE = set("里上下边旁中内外前后")


@lru_cache(maxsize=1)
def gazetteer() -> frozenset[str]:
    """Place names with their level from jieba's dictionary: tag ns, ending in 省/市/区/县, two characters
    or more before the level, not generic (各省市)."""
    places = set()
    for line in resources.files("jieba").joinpath("dict.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "ns" and len(parts[0]) >= 3 and parts[0][-1] in LEVELS:
            if parts[0][0] not in _GENERIC_START:
                places.add(parts[0])
    return frozenset(places)


def library_places(reports) -> set[str]:
    """The districts the library's reports are about, with their short names (临江区, 临江)."""
    names = {r.district for r in reports if r.district}
    return names | {d[:-1] for d in names if len(d) >= 3}


def _word_bounds(text: str, tagged: list[tuple[str, str]]) -> tuple[dict[int, str], set[int]]:
    """{start: word} and the end offsets of jieba's words in ``text``."""
    starts, ends, offset = {}, set(), 0
    for word, _ in tagged:
        at = text.find(word, offset)
        if at >= 0:
            starts[at] = word
            ends.add(at + len(word))
            offset = at + len(word)
    return starts, ends


def place_mentions(text: str, tagged: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """(name with its level, name without it, where it ends) of each place a question names:
    西湖 + 区城管局 → (西湖区, 西湖, 3)."""
    places = gazetteer()
    starts, ends = _word_bounds(text, tagged)
    found = []
    for m in re.finditer(f"[{LEVELS}]", text):
        end = m.end()
        level_word = m.start() in starts and _LEVEL_WORD.match(starts[m.start()])
        if end not in ends and not level_word:
            continue
        for start in range(max(0, end - 8), end - 2):
            if start in starts and text[start:end] in places:
                found.append((text[start:end], text[start:end - 1], end))
                break
    offset = 0
    for i, (word, tag) in enumerate(tagged):
        at = text.find(word, offset)
        offset = at + len(word) if at >= 0 else offset
        if tag != "ns" or len(word) < 2 or word[0] in _GENERIC_START or at < 0:
            continue
        following = tagged[i + 1][0] if i + 1 < len(tagged) else ""
        if word[-1] in LEVELS:
            name, stem, end = word, word[:-1], at + len(word)
        elif _LEVEL_WORD.match(following):  # 西湖 + 区 / 区城管局 / 市政府; not 长三角 + 区域
            name, stem, end = word + following[0], word, at + len(word) + 1
        else:
            continue
        if len(stem) < 2 or (name[-1] in "区县" and not is_district_name(name[-3:])):
            continue
        found.append((name, stem, end))
    return list(dict.fromkeys(found))


def foreign_places(mentions: list[tuple[str, str, int]], places: set[str], corpus_text: str) -> list[str]:
    """Of a question's ``place_mentions``, those no report is about (``places``) and no report's text mentions."""
    out = []
    for name, stem, _ in mentions:
        if name in places or stem in places or name in corpus_text or stem in corpus_text:
            continue
        if name not in out:
            out.append(name)
    return out


def other_level_organisations(text: str, tagged: list[tuple[str, str]], matches: list[tuple[int, str, str]],
                              corpus_text: str) -> list[tuple[str, str]]:
    """(name, department) of each department alias a question puts behind another level (市卫健委 for
    区卫健委), when the reports never mention that organisation. The level must begin a word (云州 +
    市卫健委), so 夜市商务局 or 城市住建局 put nothing behind a level. ``matches``: (position, dept, alias)."""
    starts, _ = _word_bounds(text, tagged)
    out = []
    for pos, dept, alias in matches:
        if (pos == 0 or alias[0] in LEVELS or not dept.startswith("区") or text[pos - 1] not in OTHER_LEVELS
                or pos - 1 not in starts):
            continue
        end = pos + len(alias)
        name = text[pos - 1:end] + _ORG_SUFFIX.match(text, end).group()  # 市 + 卫健 + 委
        if not _ORG_END.search(name):  # 市城管考核: a topic (城管) behind 市, no organisation named
            continue
        if any(d == dept and p != pos for p, d, _ in matches):  # 滨河城管局 … 市城管局考核: its own is named too
            continue
        if name not in corpus_text:
            out.append((name, dept))
    return out


def other_level_governments(text: str, mentions: list[tuple[str, str, int]], reports) -> list[str]:
    """Governments of a level no report is at (云州市政府 when every report is a district's): a place the
    question names (its ``place_mentions``) followed by 政府 / 人民政府 / 党委 or a 政府工作报告 of it."""
    levels = {r.district[-1] for r in reports if r.district}
    if not levels:
        return []
    out = []
    for name, _, end in mentions:
        if name[-1] not in levels and _GOVERNMENT_AFTER.match(text, end) and name not in out:
            out.append(name)
    return out


def _chinese_year(year: str) -> str:
    return "".join(_DIGITS[int(d)] for d in year)  # 2035 → 二〇三五


def foreign_years(text: str, reports, corpus_text: str) -> list[str]:
    """Years a question names (2019年) that no report is of and no report mentions, in digits or in
    Chinese numerals; a year that ends a range or a target (2021-2025年, 到2025年) is none."""
    years = {str(r.year) for r in reports if getattr(r, "year", None)}
    out = []
    for m in YEAR.finditer(text):
        year = m.group(1)
        if (year in years or year in corpus_text or _chinese_year(year) in corpus_text
                or _RANGE_OR_TARGET.search(text[:m.start()]) or _TARGET_AFTER.match(text, m.end())
                or f"{year}年" in out):
            continue
        out.append(f"{year}年")
    return out


def missing_work_reports(text: str, reports) -> list[str]:
    """Government work reports a question names by year that the library does not hold (its work
    reports are those whose title says 工作报告)."""
    held = {str(r.year) for r in reports if getattr(r, "year", None) and "工作报告" in getattr(r, "title", "")}
    return [f"{y}年政府工作报告" for y in dict.fromkeys(_WORK_REPORT_YEAR.findall(text)) if y not in held]


def is_organisation(word: str) -> bool:
    return bool(_ORG_WORD.match(word))


def unknown_organisations(terms: list[str], corpus_text: str) -> list[str]:
    """Organisation-like words (教育局, 卫健委) the corpus never mentions."""
    return [t for t in terms if is_organisation(t) and t not in corpus_text]


def unknown_places(tagged: list[tuple[str, str]], corpus_text: str) -> list[str]:
    """Place names (jieba tag ns) the corpus never mentions; a noun with a locative (河里, 路边) is no place name."""
    return [w for w, tag in tagged if tag == "ns" and len(w) >= 2 and w[-1] not in _LOCATIVE and w not in corpus_text]
