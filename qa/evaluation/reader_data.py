"""Make the reader's training data: retriever candidates for blind labelling, then the label files.

1. ``python -m qa.evaluation.reader_data candidates STEM…``: index the train reports (``data/reader/reports/train/``,
   all of them, so another district's passage can be a candidate; no dev or test report), and for each question of
   ``data/reader/questions/STEM.jsonl`` write the retriever's top ``DEPTH`` passages to
   ``--tolabel DIR/STEM.jsonl`` (what the labelling helper sees: the question as understood, the passages;
   never the writer's answer) and a sidecar with the gold passages the retriever missed.
2. A second helper grades each candidate (``data/reader/README.md``) into ``--graded DIR/STEM.jsonl``.
3. ``python -m qa.evaluation.reader_data merge STEM…``: candidates + grades + missed gold passages
   -> ``data/reader/labels/STEM.jsonl``, the file training reads (``qa.reader.pairs``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from qa.config import Settings
from qa.reader.pairs import DATA_DIR

DEPTH = 8  # candidates per question shown to the labeller (the reader reranks this many)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def train_reports(data_dir: Path = DATA_DIR) -> set[str]:
    from qa.reader.pairs import split_of

    return {stem for stem, name in split_of(data_dir).items() if name == "train"}


def candidates(stems: list[str], out: Path, data_dir: Path = DATA_DIR, settings: Settings | None = None) -> None:
    from dataclasses import replace

    from qa.evaluation.evaluate import library_settings
    from qa.pipeline import ReportQA, Turn, validate_question

    settings = settings or Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        # the train reports only: no passage of a dev or test report is ever a training pair
        train = replace(settings, corpus_dir=data_dir / "reports" / "train")
        qa = ReportQA(library_settings(train, [], Path(tmp)), hot_reload=False)
        index = qa.index
        titles = {r.id: r.title for r in index.reports}
        for stem in stems:
            shown, sidecar = [], []
            for row in _read_jsonl(data_dir / "questions" / f"{stem}.jsonl"):
                history = [Turn(q) for q in row.get("history", [])]
                understood = qa.resolve_followup(validate_question(row["q"]), history)
                retriever = qa.retriever  # the retriever alone: candidates as the reader will receive them
                hits = retriever.search(retriever.analyze(understood), DEPTH)
                cands = [{"cid": f"c{n}", "report": titles.get(h.chunk.report, h.chunk.title),
                          "section": h.chunk.context, "text": h.chunk.text, "chunk": h.chunk.id}
                         for n, h in enumerate(hits, 1)]
                musts = row.get("must", []) if not row.get("none") else []
                got = {c["chunk"] for c in cands}
                missed = [c for c in index.chunks if c.report == stem and c.id not in got
                          and any(m in c.text for m in musts)]
                gold = [{"report": titles.get(c.report, c.title), "section": c.context, "text": c.text,
                         "chunk": c.id} for c in missed[:2]]
                shown.append({"qid": row["id"], "q": understood, "asked": row["q"],
                              "candidates": [{k: v for k, v in c.items() if k != "chunk"} for c in cands]})
                sidecar.append({"qid": row["id"], "report": stem, "none": bool(row.get("none")),
                                "type": row.get("type", ""), "candidates": cands, "missed_gold": gold})
            _write_jsonl(out / f"{stem}.jsonl", shown)
            _write_jsonl(out / f"{stem}.sidecar.jsonl", sidecar)
            print(f"{stem}: {len(shown)} questions", file=sys.stderr)


def writer_grades(question: dict, candidate: dict, stem: str) -> int:
    """The grade the writer's own answer implies for a candidate, where no labeller graded it: the passage of
    the question's report that holds a ``must`` answers (3); another passage of its section is on the topic
    but not the answer (1); anything else, and every candidate of an unanswerable question, is unrelated (0)."""
    if question.get("none"):
        return 0
    own = candidate["chunk"].split("/")[0] == stem
    if own and any(m in candidate["text"] for m in question.get("must", [])):
        return 3
    return 1 if own and question.get("section") and question["section"] == candidate["section"] else 0


def combined_grade(question: dict, candidate: dict, stem: str, labelled: int | None) -> tuple[int, str]:
    """(grade, by): the labeller's grade where there is one, else the writer's (``writer_grades``). The writer
    read the whole report, the labeller one passage: the passage holding the writer's answer is 3, and no
    passage answers (at most 1) a question the writer found the report does not answer."""
    writer = writer_grades(question, candidate, stem)
    if labelled is None:
        return writer, "writer"
    if question.get("none"):
        return min(labelled, 1), "labeller"
    return (3, "writer") if writer == 3 else (labelled, "labeller")


def merge(stems: list[str], tolabel: Path, graded: Path | None, data_dir: Path = DATA_DIR) -> None:
    """Candidates + grades -> label files. ``graded``: the labeller's grades (a question it did not reach keeps
    the writer's); None: the writer's answers only (``combined_grade``)."""
    for stem in stems:
        questions = {r["id"]: r for r in _read_jsonl(data_dir / "questions" / f"{stem}.jsonl")}
        given_file = graded / f"{stem}.jsonl" if graded is not None else None
        grades = ({r["qid"]: r["grades"] for r in _read_jsonl(given_file)}
                  if given_file is not None and given_file.is_file() else {})
        rows, by_labeller = [], 0
        train = train_reports(data_dir)
        for side, shown in zip(_read_jsonl(tolabel / f"{stem}.sidecar.jsonl"),
                               _read_jsonl(tolabel / f"{stem}.jsonl")):
            question = questions[side["qid"]]
            given = grades.get(side["qid"], {})
            if not all(isinstance(given.get(c["cid"]), int) and 0 <= given[c["cid"]] <= 3 for c in side["candidates"]):
                given = {}  # incomplete or malformed grading of a question: the writer's grades instead
            by_labeller += bool(given)
            cands = []
            for c in side["candidates"]:
                if c["chunk"].split("/")[0] not in train:
                    continue  # a dev or test report's passage (candidates made before the rule): never trained on
                grade, by = combined_grade(question, c, stem, given.get(c["cid"]))
                cands.append({"report": c["report"], "section": c["section"], "text": c["text"],
                              "grade": grade, "by": by, "own": c["chunk"].split("/")[0] == stem})
            cands += [{**{k: g[k] for k in ("report", "section", "text")}, "grade": 3, "by": "writer-gold",
                       "own": True} for g in side["missed_gold"]]
            rows.append({"qid": side["qid"], "report": stem, "type": side["type"], "none": side["none"],
                         "q": shown["q"], "asked": shown["asked"], "candidates": cands})
        _write_jsonl(data_dir / "labels" / f"{stem}.jsonl", rows)
        print(f"{stem}: {len(rows)} questions, {by_labeller} graded by the labeller", file=sys.stderr)


GOLD_FIELDS = ("id", "type", "q", "note", "history", "report", "must", "none")


def gold_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """The dev and test reports' questions in the gold format of ``eval/README.md`` -> ``data/reader/eval/``
    (``section`` becomes ``dept`` where the parser reads it as a department), for ``qa eval --library
    data/reader/reports/dev`` (or ``test``) and ``train-abstain``."""
    from qa.config import ChunkingParams
    from qa.ingest.corpus import load_corpus
    from qa.reader.pairs import split_of

    splits = split_of(data_dir)
    out = []
    for name in ("dev", "test"):
        corpus = load_corpus(data_dir / "reports" / name, ChunkingParams(), quiet=True)
        depts: dict[str, set[str]] = {}
        for chunk in corpus.chunks:
            if chunk.dept:
                depts.setdefault(chunk.report, set()).add(chunk.dept)
        rows = []
        for stem in sorted(s for s, n in splits.items() if n == name):
            path = data_dir / "questions" / f"{stem}.jsonl"
            if not path.is_file():
                continue
            for row in _read_jsonl(path):
                line = {k: row[k] for k in GOLD_FIELDS if k in row}
                line["report"] = stem
                if row.get("none"):
                    line.pop("must", None)
                elif row.get("section") in depts.get(stem, ()):
                    line["dept"] = [row["section"]]
                rows.append(line)
        target = data_dir / "eval" / f"reader-{name}.jsonl"
        _write_jsonl(target, rows)
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.evaluation.reader_data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("candidates", help="retriever candidates of each question, for the labeller")
    p.add_argument("stems", nargs="+")
    p.add_argument("--tolabel", type=Path, required=True)
    p = sub.add_parser("merge", help="candidates + grades -> data/reader/labels/")
    p.add_argument("stems", nargs="+")
    p.add_argument("--tolabel", type=Path, required=True)
    p.add_argument("--graded", type=Path, default=None, help="the labeller's grades (default: from the writer's answers)")
    sub.add_parser("gold", help="dev and test reports' questions in the gold format -> data/reader/eval/")
    args = parser.parse_args(argv)
    if args.command == "gold":
        for path in gold_files():
            print(path)
    elif args.command == "candidates":
        candidates(args.stems, args.tolabel)
    else:
        merge(args.stems, args.tolabel, args.graded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
