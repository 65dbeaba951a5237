"""What the reader should know before an answer: the scope it was looked up in was not the one asked about.

Three cases, all decided from the retriever's own data (no per-question rules):

* the department filter contradicts the question ("您选择了区住建局，但问题提到区城管局…");
* the department named or chosen says nothing on the question's topic words, and other departments do
  ("区住建局的内容中没有提到“养老”；提到的部门有：区民政局。");
* an answer whose cited passages never mention a noun of the question, neither verbatim nor by a
  thesaurus synonym ("引用的段落中没有直接提到“路灯”…"): the closest passages are shown, and the reader
  knows to check them (the answer-or-abstain model let the question through on the rest of its evidence).
"""

from __future__ import annotations

from dataclasses import replace

from qa.answer import mentions
from qa.retrieve import Hit, Query, Retriever
from qa.synonyms import for_index

WIDER_K = 10  # hits looked at across all departments when the chosen one has nothing on the topic
_NOUN_TAGS = ("n", "vn")  # jieba tags of nouns (n, nr, ns, nt, nz …) and verbal nouns


def filter_conflict(chosen: str | None, named: list[str]) -> str | None:
    if not chosen or not named or chosen in named:
        return None
    others = "、".join(named)
    return (f"您选择了{chosen}，但问题提到{others}：以下只在{chosen}的内容中查找。"
            f"要查{others}，请把“部门范围”改为“全部”。")


def _quoted(terms: list[str]) -> str:
    return "、".join(f"“{t}”" for t in terms[:3])


def topic_elsewhere(retriever: Retriever, query: Query, hits: list[Hit], chosen: str | None) -> str | None:
    """When the one department in scope has nothing on the topic words: say so and name those that do."""
    scope = [chosen] if chosen else query.depts
    if len(scope) != 1 or query.multi or not query.terms or not hits:
        return None
    terms = [t for t in query.terms if t in retriever.index.corpus_text]  # absent words are abstention's job
    if not terms:
        return None
    if any(mentions(terms, h.chunk.text) for h in hits if h.chunk.dept == scope[0]):
        return None
    wider = retriever.search(replace(query, depts=[], hard_depts=[], dept_reports={}), WIDER_K, None)
    others = [d for d in dict.fromkeys(h.chunk.dept for h in wider if mentions(terms, h.chunk.text)) if d != scope[0]]
    if not others:
        return None
    return f"{scope[0]}的内容中没有提到{_quoted(terms)}；提到的部门有：{'、'.join(others[:5])}。"


def unmatched_nouns(retriever: Retriever, query: Query, hits: list[Hit]) -> str | None:
    """When the cited passages mention some noun of the question neither verbatim nor by a synonym."""
    index = retriever.index
    nouns = {w.strip().lower() for w, tag in index.tokenizer.tagged(query.text) if tag.startswith(_NOUN_TAGS)}
    terms = [t for t in query.terms if len(t) >= 2 and t in nouns]
    if not terms or not hits:
        return None
    thesaurus = for_index(index)
    cited = "\n".join(f"{h.chunk.dept}{h.chunk.headline}{h.chunk.text}" for h in hits)
    missing = [t for t in terms if t not in cited and not any(s in cited for s in thesaurus.expand(t))]
    if not missing:
        return None
    return f"引用的段落中没有直接提到{_quoted(missing)}，以下是报告中最接近的内容，请核对原文。"


def scope_notices(retriever: Retriever, query: Query, hits: list[Hit], chosen: str | None,
                  answered: bool = False) -> list[str]:
    """The notices for one question; ``answered``: the answer quotes ``hits`` (not an abstention)."""
    notices = [filter_conflict(chosen, query.depts), topic_elsewhere(retriever, query, hits, chosen),
               unmatched_nouns(retriever, query, hits) if answered else None]
    return [n for n in notices if n]
