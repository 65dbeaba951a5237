"""Follow-up questions: fill in what an elliptical question leaves out from the chat's earlier turns.

"那民政局呢？" after "城管局在垃圾分类上做什么" means "区民政局在垃圾分类上做什么"; "它的厕所革命呢"
after a question about 城管局 means 区城管局's. The whole bounded history is read (newest first, at
most ``MAX_TURNS`` turns), and something is carried forward only when the new question lacks it and
says so by general signals:

- no department, but a topic and a reference back (a pronoun such as 它/他们/该局, an
  ellipsis: 那…/还有…/…呢, or no noun at all: 具体怎么抓) -> the last department named in the
  history is put in front;
- a department but no topic, and an ellipsis or a topic pronoun (那民政局呢, 民政局这方面呢)
  -> the last question that had a topic, with its department swapped for the new one;
- a place that names a report of the library (滨河区, 临江) or a year, but no topic, and an ellipsis
  (那滨河区呢, 2023年呢) -> the last question with a topic or department, with its place / year swapped for
  the new one (or the new one put in front); a new place alone drops the earlier year (that district's
  report is of its own year). A place or a year is scope, like a department, not a topic word.
- a topic but no place and no year, and a reference back or an ellipsis (托育那块呢，托位加多少 after
  "2024年临江区要新增多少养老床位") -> the place and year of the last question that named one are put in
  front: the conversation stays with the report it was about. This also applies when a department is
  carried in (above), not when the question names one (那三方办呢 may be another report's department).

Anything else is taken as a new question. ``resolve`` returns the question as understood, so a
UI can show "理解为：…".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from qa.search.places import YEAR

MAX_TURNS = 6  # earlier questions read, newest first
MAX_CHARS = 500  # each earlier question is cut to this
# Closed classes of Chinese function words, not question-specific: personal and demonstrative
# pronouns that point back to something said before, and the markers of an elliptical follow-up.
_REFERENCE = re.compile(r"它们?|他们|她们|其(?![他它中实余次])|该(?:局|部门|单位|办|委)|这个(?:部门|单位|局)|那个(?:部门|单位|局)|上述|前面")
_TOPIC_PRONOUN = re.compile(r"这方面|这件事|这项工作|这个问题|这一块|这块|此事|同样的|一样的")
_ELLIPSIS = re.compile(r"^(?:那|那么|还有|另外|再说说|再问|那请问)|呢\s*[？?。！!]*\s*$|呢[，,]")


@dataclass
class Resolution:
    question: str  # the question as understood (the input itself when nothing was carried)
    carried_dept: str | None = None  # department taken from the history
    carried_from: str | None = None  # earlier question whose topic was taken
    carried_scope: str = ""  # place / year taken from the history (2024年临江区)

    @property
    def changed(self) -> bool:
        return self.carried_dept is not None or self.carried_from is not None or bool(self.carried_scope)


def _recent(history: Iterable[str]) -> list[str]:
    turns = [h[:MAX_CHARS] for h in history if isinstance(h, str) and h.strip()]
    return list(reversed(turns[-MAX_TURNS:]))


def resolve(question: str, history: Iterable[str], find_depts: Callable[[str], list[str]],
            topic_terms: Callable[[str], list[str]], aliases: dict[str, str], multi: Callable[[str], bool],
            has_noun: Callable[[str], bool] = lambda text: True,
            find_places: Callable[[str], list[str]] = lambda text: []) -> Resolution:
    """``question`` with the department or topic it leaves out filled in from ``history`` (oldest first).
    ``find_places``: the names of the library's districts in a text (longest first), which are scope."""
    recent = _recent(history)
    if not recent or multi(question):
        return Resolution(question)
    depts = find_depts(question)
    places = find_places(question)
    terms = [t for t in topic_terms(question) if not any(t in p or p in t for p in places)]
    ellipsis = bool(_ELLIPSIS.search(question))
    if depts and not terms and (ellipsis or _TOPIC_PRONOUN.search(question)):
        for earlier in recent:
            if topic_terms(earlier) and not multi(earlier):
                swapped = _swap_department(earlier, depts[0], find_depts(earlier), aliases)
                if places:
                    swapped = _swap_place(swapped, places[0], find_places(earlier))
                return Resolution(swapped, None, earlier)
        return Resolution(question)
    years = _years(question)
    if (places or years) and not depts and not terms and ellipsis:
        for earlier in recent:
            if (topic_terms(earlier) or find_depts(earlier)) and not multi(earlier):
                swapped = _swap_place(earlier, places[0], find_places(earlier)) if places else earlier
                if years:
                    swapped = _swap_year(swapped, years[0])
                else:  # 那滨河区呢 after 临江区2023年…: the other district's report is of its own year
                    swapped = YEAR.sub("", swapped)
                return Resolution(swapped, None, earlier)
        return Resolution(question)
    refers_back = ellipsis or bool(_REFERENCE.search(question)) or not has_noun(question)
    if not depts and terms and refers_back:
        for earlier in recent:
            earlier_depts = find_depts(earlier)
            if len(earlier_depts) == 1:
                scope = _missing_scope(question, recent, find_places)
                return Resolution(f"{scope}{earlier_depts[0]}{question}", earlier_depts[0], carried_scope=scope)
            if earlier_depts:  # several departments: ambiguous, do not guess
                break
    if terms and refers_back and not depts:
        scope = _missing_scope(question, recent, find_places)
        if scope:
            return Resolution(f"{scope}{question}", carried_scope=scope)
    return Resolution(question)


def _missing_scope(question: str, recent: list[str], find_places: Callable[[str], list[str]]) -> str:
    """The place and year of the newest earlier question naming either, when ``question`` names neither."""
    if find_places(question) or YEAR.search(question):
        return ""
    for earlier in recent:
        places, years = find_places(earlier)[:1], _years(earlier)[:1]
        if places or years:
            return "".join(years + places)
    return ""


def _swap_department(earlier: str, dept: str, earlier_depts: list[str], aliases: dict[str, str]) -> str:
    """``earlier`` with its (first) department's name replaced by ``dept``, or ``dept`` put in front."""
    if earlier_depts:
        for alias in sorted(aliases, key=len, reverse=True):
            if aliases[alias] == earlier_depts[0] and alias in earlier:
                return earlier.replace(alias, dept, 1)
    return f"{dept}{earlier}"


def _years(text: str) -> list[str]:
    """The years ``text`` names, as written (2023年)."""
    return [m.group(0) for m in YEAR.finditer(text)]


def _swap_year(earlier: str, year: str) -> str:
    """``earlier`` with its first year replaced by ``year``, or ``year`` put in front."""
    swapped, n = YEAR.subn(year, earlier, count=1)
    return swapped if n else f"{year}{earlier}"


def _swap_place(earlier: str, place: str, earlier_places: list[str]) -> str:
    """``earlier`` with its first place name replaced by ``place``, or ``place`` put in front."""
    if earlier_places:
        return earlier.replace(earlier_places[0], place, 1)
    return f"{place}{earlier}"
