"""The reader's committed training data -> (question, passage, target) pairs, split by whole report.

``data/reader/`` holds what blind helpers wrote and labelled (see ``data/reader/README.md``):

* ``reports/``: the reports, invented, in their own words;
* ``questions/<report>.jsonl``: questions written over one report (gold format, ``none`` for unanswerable);
* ``labels/<report>.jsonl``: per question, the candidates the retriever of the time ranked (and the writer's
  gold passage when the retriever missed it), each graded by a second helper: 3 answers it, 2 partly,
  1 same topic but not the answer (or another district's or department's), 0 unrelated;
* ``split.json``: which reports are train, dev and test.

A label line holds the candidate texts themselves, so training never depends on the retriever of today.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from qa.config import PROJECT_ROOT
from qa.reader.model import passage_text

DATA_DIR = PROJECT_ROOT / "data" / "reader"
# Graded labels -> the probability the reader learns. "Same topic, not the answer" stays near 0: it is what
# an answer-or-abstain decision has to refuse.
TARGETS = {3: 1.0, 2: 0.7, 1: 0.1, 0: 0.0}
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Pair:
    qid: str
    report: str  # the report the question was written over
    question: str
    passage: str
    grade: int
    answerable: bool  # the writer's own judgement (no ``none``)

    @property
    def target(self) -> float:
        return TARGETS[self.grade]


def split_of(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """report stem -> "train" | "dev" | "test"."""
    raw = json.loads((data_dir / "split.json").read_text(encoding="utf-8"))
    return {stem: name for name in SPLITS for stem in raw[name]}


def label_lines(data_dir: Path = DATA_DIR):
    for path in sorted((data_dir / "labels").glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None


def load_pairs(split: str, data_dir: Path = DATA_DIR, max_unrelated: int | None = None) -> list[Pair]:
    """The graded (question, candidate) pairs of the reports in ``split``: every candidate graded 1 or more,
    and of those graded 0 the first ``max_unrelated`` (all when None) in the retriever's order, the hardest.

    Left out: another report's passage graded 1 or more (``own`` false). The labeller judged it knowing which
    district the question was written for, which the question often does not say and the reader is not
    shown; which report answers is the retriever's routing (a named district restricts the search)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    splits = split_of(data_dir)
    pairs = []
    for row in label_lines(data_dir):
        if splits.get(row["report"]) != split:
            continue
        unrelated = 0
        for cand in row["candidates"]:
            if cand.get("own") is False and int(cand["grade"]) >= 1:
                continue
            if int(cand["grade"]) == 0:
                unrelated += 1
                if max_unrelated is not None and unrelated > max_unrelated:
                    continue
            pairs.append(Pair(row["qid"], row["report"], row["q"],
                              passage_text(cand["section"], cand["text"]),
                              int(cand["grade"]), not row.get("none", False)))
    return pairs


def data_sha256(data_dir: Path = DATA_DIR) -> str:
    """sha256 over the label files and the split: what a trained reader records it was trained on."""
    digest = hashlib.sha256()
    for path in sorted((data_dir / "labels").glob("*.jsonl")) + [data_dir / "split.json"]:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).hexdigest().encode())
    return digest.hexdigest()
