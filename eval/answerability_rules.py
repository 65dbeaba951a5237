"""Measure each replaced analysis rule against the rule it replaced, on a question file (dev only for choices).

    .venv/bin/python eval/answerability_rules.py --questions eval/dev.jsonl

For each mechanism the old rule (copied here verbatim from before issue 9) is switched back in, the
answerability model is refitted with cross-validation on the same file, and the end-to-end figures
are compared with the new mechanism: the multi-department rule, question topic words (one-question
stopwords vs part-of-speech + interrogative words), follow-up resolution (last turn + 8-character
rule vs the bounded history), and the unknown-organisation rule (hard abstention vs model feature).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.search import retrieve, tokens  # noqa: E402
from qa.answer.abstain import FEATURES, choose_cutoff, out_of_fold, train  # noqa: E402
from qa.evaluation.abstain_eval import collect, decide_all, read_questions, summarize  # noqa: E402
from qa.pipeline import ReportQA, Turn  # noqa: E402

OLD_MULTI = re.compile(r"哪些部门|哪几个部门|哪些单位|哪几个单位|各部门|各个部门|哪些局|多个部门|几个部门|分别|都有谁|哪些地方")
OLD_ORG = re.compile(r"^[\u4e00-\u9fff]{1,8}(?:局|办|委|厅|处|署|中心|办公室)$")
OLD_EXTRA_STOPWORDS = {"保证", "谁来管", "干什么", "说法"}
OLD_FOLLOWUP = re.compile(r"^(那|那么|那个|还有|另外|再|它|他们|其|该局)|[呢吗么]\s*[？?]?\s*$")


def old_content_terms(self, text: str) -> list[str]:
    stop = tokens.stopwords() | OLD_EXTRA_STOPWORDS
    seen: dict[str, None] = {}
    for word in self._cutter().lcut(text):
        word = word.strip().lower()
        if word and word not in stop and tokens._WORDLIKE.search(word) and word not in self.canonical:
            seen.setdefault(word)
    return list(seen)


def old_resolve_followup(self, question: str, history) -> str:
    if not history:
        return question
    previous = history[-1].question
    aliases = self.index.aliases
    prev_depts = retrieve.find_departments(previous, aliases)
    new_depts = retrieve.find_departments(question, aliases)
    terms = self.index.tokenizer.content_terms(question)
    if new_depts and not terms and prev_depts and OLD_FOLLOWUP.search(question):
        rewritten = previous
        for alias in sorted(aliases, key=len, reverse=True):
            if aliases[alias] in prev_depts and alias in rewritten:
                rewritten = rewritten.replace(alias, new_depts[0])
                break
        return rewritten
    if not new_depts and prev_depts and terms and (OLD_FOLLOWUP.search(question) or len(question) <= 8):
        return f"{prev_depts[0]}{question}"
    return question


def run(qa: ReportQA, rows: list[dict], hard_org: bool = False) -> dict:
    outcomes = collect(qa, rows)
    y = np.array([o.label for o in outcomes])
    data = [{"label": o.label, **o.features} for o in outcomes]
    policy, _ = train(data)
    X = np.array([[d[f] for f in FEATURES] for d in data])
    oof = out_of_fold(X, y, policy.validation["C"])
    decide_all(outcomes, oof, choose_cutoff(oof, y))
    if hard_org:
        for o, row in zip(outcomes, rows):
            query = qa.retriever.analyze(qa.resolve_followup(row["q"], [Turn(h) for h in row.get("history") or []]))
            if not query.depts and any(OLD_ORG.match(w) and w not in qa.index.corpus_text for w in query.terms):
                o.abstained = True
    return summarize(outcomes)


def line(name: str, summary: dict) -> str:
    o = summary["overall"]
    by = summary["by_type"]
    follow = by.get("follow-up", {}).get("e2e_hit@1", {}).get("value")
    multi = o["e2e_multi_recall@5"]["value"]
    return (f"| {name} | {o['ranked_hit@1']['value']} | {o['e2e_hit@1']['value']} | {multi} | {follow} | "
            f"{o['false_abstentions']} | {o['abstention_recall']['value']} | {o['abstention_precision']['value']} |")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=Path, default=Path("eval/dev.jsonl"))
    args = parser.parse_args()
    rows = read_questions(args.questions)
    qa = ReportQA()
    print("| variant | ranked hit@1 | e2e hit@1 | e2e multi recall@5 | follow-up e2e hit@1 | false abstentions | "
          "abstention recall | abstention precision |")
    print("|---|---|---|---|---|---|---|---|")
    print(line("new (all mechanisms)", run(qa, rows)))

    saved = retrieve._MULTI
    retrieve._MULTI = OLD_MULTI
    print(line("old multi-department phrase list", run(qa, rows)))
    retrieve._MULTI = saved

    saved_terms = tokens.Tokenizer.content_terms
    tokens.Tokenizer.content_terms = old_content_terms
    print(line("old topic words (one-question stopwords, no POS)", run(qa, rows)))
    tokens.Tokenizer.content_terms = saved_terms

    saved_follow = ReportQA.resolve_followup
    ReportQA.resolve_followup = old_resolve_followup
    print(line("old follow-ups (last turn, 8-character rule)", run(qa, rows)))
    ReportQA.resolve_followup = saved_follow

    print(line("old unknown-organisation hard rule on top", run(qa, rows, hard_org=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
