"""What the reader should know before an answer: the scope it was looked up in was not the one asked about.

Two cases, both decided from the retriever's own data (no per-question rules):

* the department filter contradicts the question ("您选择了区住建局，但问题提到区城管局…");
* the department named or chosen says nothing on the question's topic words, and other departments do
  ("区住建局的内容中没有提到“养老”；提到的部门有：区民政局。").
"""

from __future__ import annotations

from dataclasses import replace

from qa.answer.extractive import mentions
from qa.search.retrieve import Hit, Query, Retriever

WIDER_K = 10  # hits looked at across all departments when the chosen one has nothing on the topic


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
    others = [d for d in dict.fromkeys(h.chunk.dept for h in wider if mentions(terms, h.chunk.text))
              if d and d != scope[0]]  # a work report's passages have no department
    if not others:
        return None
    return f"{scope[0]}的内容中没有提到{_quoted(terms)}；提到的部门有：{'、'.join(others[:5])}。"


def scope_notices(retriever: Retriever, query: Query, hits: list[Hit], chosen: str | None) -> list[str]:
    notices = [filter_conflict(chosen, query.depts), topic_elsewhere(retriever, query, hits, chosen)]
    return [n for n in notices if n]
