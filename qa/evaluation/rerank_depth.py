"""How deep the reader should rerank, and how much the fused score should still count: measured on dev.

``python -m qa.evaluation.rerank_depth --library DIR --questions FILE…`` builds a temporary index of the
corpus plus ``DIR`` (as ``qa eval --library`` does), takes each answerable question's ``MAX_DEPTH`` fused
candidates once, scores them all with the reader, and reports ranked hit@1 / hit@3 and the reader's time for
every depth and fused-score weight: the first ``depth`` candidates reordered by reader + weight · fused.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from qa.config import add_path_options, settings_from_args

MAX_DEPTH = 10
DEPTHS = (1, 3, 4, 5, 6, 8, 10)
WEIGHTS = (0.0, 0.3, 1.0, 2.0)


def measure(qa, questions) -> list[dict]:
    from qa.pipeline import Turn
    from qa.reader.rerank import hit_passage

    rows = []
    for gold in questions:
        if gold.kind != "single" or not gold.must:
            continue
        resolved = qa.resolve_followup(gold.q, [Turn(h) for h in gold.history])
        retriever = qa.retriever
        hits = retriever.search(retriever.analyze(resolved), MAX_DEPTH)
        relevant = [gold.relevant(h.chunk.dept, h.chunk.text, h.chunk.source) for h in hits]
        times = {}
        for depth in DEPTHS:
            started = time.perf_counter()
            scores = qa.reader.score(resolved, [hit_passage(h) for h in hits[:depth]])
            times[depth] = time.perf_counter() - started
        rows.append({"relevant": relevant, "fused": [h.score for h in hits], "reader": list(scores),
                     "seconds": times})
    return rows


def hit_at(row: dict, depth: int, weight: float, k: int) -> bool:
    head = sorted(range(min(depth, len(row["relevant"]))),
                  key=lambda i: -(row["reader"][i] + weight * row["fused"][i]))
    order = head + list(range(len(head), len(row["relevant"])))
    return any(row["relevant"][i] for i in order[:k])


def table(rows: list[dict]) -> str:
    lines = ["| depth | " + " | ".join(f"hit@1 w={w}" for w in WEIGHTS) + " | hit@3 w=1.0 | reader p50 ms |",
             "|---|" + "---|" * (len(WEIGHTS) + 2)]
    for depth in DEPTHS:
        cells = [f"{sum(hit_at(r, depth, w, 1) for r in rows) / len(rows):.3f}" for w in WEIGHTS]
        hit3 = sum(hit_at(r, depth, 1.0, 3) for r in rows) / len(rows)
        p50 = statistics.median(r["seconds"][depth] for r in rows) * 1000
        lines.append(f"| {depth} | " + " | ".join(cells) + f" | {hit3:.3f} | {p50:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from qa.evaluation.evaluate import library_settings
    from qa.evaluation.gold import load_gold_files
    from qa.pipeline import ReportQA

    parser = argparse.ArgumentParser(prog="python -m qa.evaluation.rerank_depth", description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, nargs="+", required=True)
    parser.add_argument("--library", type=Path, action="append", default=[], metavar="DIR")
    add_path_options(parser)
    args = parser.parse_args(argv)
    questions = load_gold_files(args.questions)
    with tempfile.TemporaryDirectory(prefix="qa-depth-") as tmp:
        settings = library_settings(settings_from_args(args), list(args.library), Path(tmp))
        rows = measure(ReportQA(settings, hot_reload=False), questions)
    print(f"{len(rows)} answerable questions of {', '.join(str(p) for p in args.questions)}; "
          f"library: corpus + {', '.join(str(d) for d in args.library) or 'nothing'}\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
