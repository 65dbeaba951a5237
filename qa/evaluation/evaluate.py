"""Retrieval and answer benchmark: ``python -m qa eval --questions FILE [FILE ...]``.

Question files follow /work/staging/GOLD_FORMAT.md (parsed in ``qa/evaluation/gold.py``). Two families of rows:

* **Ranking before abstention** — hit@k, MRR@10 and nDCG@10 on the ranked citations of single-answer
  questions, recall@5 of multi-department and cross-report questions, whether or not the system
  abstained, so retrievers are compared on ranking alone.
* **End to end** — what the user sees: an answerable question counts only when the system answered and
  its first citation is right (all departments / reports among the first 5 for multi / cross-report
  questions); an unanswerable one only when it abstained. Abstention precision / recall, false abstentions
  (answerable questions refused) and false answers (unanswerable questions answered).

Every main metric carries a seeded percentile-bootstrap 95 % interval (``qa/evaluation/metrics.py``), overall and per
question type. ``qa eval --compare A.json B.json`` compares two runs question by question (paired
bootstrap interval of the difference, paired randomisation test).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from qa.config import PROJECT_ROOT, add_path_options, settings_from_args
from qa.evaluation.gold import GoldQuestion, load_gold_files
from qa.evaluation.metrics import (BOOTSTRAP_SAMPLES, KS, SEED, Metric, bootstrap_interval, paired_compare, percentile,
                                   rank_metrics)
from qa.evaluation.systems import Ranked, System

DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"  # the first gold set (80; also part of dev)
DEV_QUESTIONS = PROJECT_ROOT / "eval" / "dev.jsonl"  # tune on this (eval/split.py)
TEST_QUESTIONS = PROJECT_ROOT / "eval" / "test.jsonl"  # report this; tests/test_quality.py gates on it
DEFAULT_OUT = PROJECT_ROOT / "eval" / "results"
# "hybrid" is the product (the retriever's candidates reordered by the reader); "hybrid-before-reader" the same
# pipeline with the retriever's order kept (the same answer-or-abstain decisions): ranking before and after.
# keyword and dense are the retriever's halves alone, in their own order.
RETRIEVERS = ("keyword", "dense", "hybrid", "hybrid-before-reader", "baseline")
BEFORE_READER = "-before-reader"


# ---------------------------------------------------------------- metric definitions over question rows

def _is(kind: str):
    return lambda r: float(r["kind"] == kind)


def _listwise(r: dict) -> bool:
    return r["kind"] in ("multi", "reports")


def _single_value(key: str):
    return lambda r: r.get(key, 0.0) if r["kind"] == "single" else 0.0


def _all_kinds(_: dict) -> float:
    return 1.0


def ranking_metrics(ks: tuple[int, ...] = KS) -> list[Metric]:
    single = _is("single")
    out = [Metric(f"hit@{k}", _single_value(f"hit@{k}"), single) for k in ks]
    out += [
        Metric("mrr", _single_value("mrr"), single),
        Metric("ndcg@10", _single_value("ndcg@10"), single),
        Metric("multi_recall@5", lambda r: r.get("recall@5", 0.0) if r["kind"] == "multi" else 0.0, _is("multi")),
        Metric("cross_report_recall@5", lambda r: r.get("recall@5", 0.0) if r["kind"] == "reports" else 0.0,
               _is("reports")),
    ]
    return out


END_TO_END = [
    Metric("e2e_accuracy", lambda r: float(r["correct"]), _all_kinds),
    Metric("e2e_hit@1", lambda r: float(r["kind"] == "single" and r["correct"]), _is("single")),
    Metric("e2e_multi_all@5", lambda r: float(_listwise(r) and r["correct"]), lambda r: float(_listwise(r))),
    Metric("abstain_precision", lambda r: float(r["abstained"] and r["kind"] == "none"),
           lambda r: float(r["abstained"])),
    Metric("abstain_recall", lambda r: float(r["abstained"] and r["kind"] == "none"), _is("none")),
    Metric("false_abstentions", lambda r: float(r["abstained"] and r["kind"] != "none"), _all_kinds, count=True),
    Metric("false_answers", lambda r: float(not r["abstained"] and r["kind"] == "none"), _all_kinds, count=True),
]
OTHER = [Metric("mean_cited_chars", _single_value("cited_chars"), _is("single"))]
# The metrics that get bootstrap intervals and paired comparisons.
MAIN = ("hit@1", "hit@5", "mrr", "ndcg@10", "multi_recall@5", "cross_report_recall@5", "e2e_accuracy",
        "e2e_hit@1", "e2e_multi_all@5", "abstain_precision", "abstain_recall", "false_abstentions",
        "false_answers")


def all_metrics(ks: tuple[int, ...] = KS) -> list[Metric]:
    return ranking_metrics(ks) + END_TO_END + OTHER


# ---------------------------------------------------------------- running a system


def score_question(g: GoldQuestion, ranked: Ranked, n_relevant: int, ks: tuple[int, ...] = KS) -> dict:
    """One row of the results: what came back for ``g`` and how it scores."""
    row = {"id": g.id, "type": g.type, "kind": g.kind, "q": g.q, "expected": g.expected,
           "abstained": ranked.abstained, "seconds": round(ranked.seconds, 5),
           "top": [f"{c.dept} · {' '.join(c.text.split())[:40]}" for c in ranked.citations[:3]]}
    if g.history:
        row["history"] = g.history
    if g.kind == "single":
        relevance = [g.cited_relevant(c) for c in ranked.citations]
        row.update(rank_metrics(relevance, n_relevant, ks))
        row["cited_chars"] = sum(len(c.text) for c in ranked.citations[:5]) / max(len(ranked.citations[:5]), 1)
        row["correct"] = bool(relevance[:1] == [True] and not ranked.abstained)
    elif g.kind in ("multi", "reports"):
        row["recall@5"] = round(g.recall(ranked.citations[:5]), 4)
        row["all@5"] = row["recall@5"] == 1.0
        row["correct"] = bool(row["all@5"] and not ranked.abstained)
    else:
        row["correct"] = bool(ranked.abstained)
    return row


def evaluate_system(system: System, gold: list[GoldQuestion], ks: tuple[int, ...] = KS,
                    progress: bool = True) -> dict:
    from tqdm import tqdm

    depth = max(10, *ks)
    rows, latencies = [], []
    for g in tqdm(gold, desc=system.name, unit="q", disable=not progress, file=sys.stderr):
        ranked = system.run(g.q, depth, g.history)
        latencies.append(ranked.seconds)
        rows.append(score_question(g, ranked, system.count_relevant(g) if g.kind == "single" else 0, ks))
    return summarize(rows, latencies, ks) | {"questions": rows}


def summarize(rows: list[dict], latencies: list[float], ks: tuple[int, ...] = KS, intervals: bool = True) -> dict:
    """Point values of every metric, counts, latency, bootstrap intervals, and the same per question type."""
    summary = _point_values(rows, ks)
    none = [r for r in rows if r["kind"] == "none"]
    summary.update({
        "abstained_unanswerable": f"{sum(r['abstained'] for r in none)}/{len(none)}",
        "latency_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "latency_p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "n": len(rows), **{f"n_{kind}": sum(r["kind"] == kind for r in rows) for kind in ("single", "multi",
                                                                                         "reports", "none")},
    })
    if intervals:
        summary["intervals"] = _intervals(rows, ks)
    by_type: dict[str, dict] = {}
    for qtype in dict.fromkeys(r["type"] for r in rows):
        subset = [r for r in rows if r["type"] == qtype]
        by_type[qtype] = {"n": len(subset), **_point_values(subset, ks)}
        if intervals:
            by_type[qtype]["intervals"] = _intervals(subset, ks)
    summary["by_type"] = by_type
    return summary


def _point_values(rows: list[dict], ks: tuple[int, ...]) -> dict:
    return {m.name: m.value(rows) for m in all_metrics(ks)}


def _intervals(rows: list[dict], ks: tuple[int, ...]) -> dict:
    out = {}
    for metric in all_metrics(ks):
        if metric.name in MAIN:
            interval = bootstrap_interval(metric, rows)
            if interval is not None:
                out[metric.name] = interval
    return out


def misses(result: dict) -> list[dict]:
    """Questions the user would see go wrong (end to end), plus answerable ones ranked wrong at 1."""
    out = []
    for r in result["questions"]:
        ranked_wrong = (r["kind"] == "single" and not r["hit@1"]) or (r["kind"] in ("multi", "reports")
                                                                      and r["recall@5"] < 1)
        if not r["correct"] or ranked_wrong:
            out.append({"id": r["id"], "type": r["type"], "q": r["q"], "expected": r["expected"],
                        "abstained": r["abstained"], "first": r["top"][0] if r["top"] else ""})
    return out


# ---------------------------------------------------------------- reports

RANKING_ROWS = ("mrr", "ndcg@10", "multi_recall@5", "cross_report_recall@5")
E2E_ROWS = ("e2e_accuracy", "e2e_hit@1", "e2e_multi_all@5", "abstain_precision", "abstain_recall",
            "abstained_unanswerable", "false_abstentions", "false_answers")
OTHER_ROWS = ("mean_cited_chars", "latency_p50_ms", "latency_p95_ms")
TYPE_COLUMNS = ("hit@1", "hit@5", "mrr", "multi_recall@5", "cross_report_recall@5", "e2e_accuracy",
                "false_abstentions", "false_answers")


def _ks(summary: dict) -> list[int]:
    return sorted(int(key[4:]) for key in summary if key.startswith("hit@"))


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) <= 1 else f"{value:.1f}"
    return str(value)


def _with_interval(summary: dict, metric: str) -> str:
    text = _fmt(summary.get(metric))
    interval = summary.get("intervals", {}).get(metric)
    return f"{text} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval and summary.get(metric) is not None else text


def markdown_table(results: dict[str, dict]) -> str:
    """Metrics as rows, retrievers as columns; main metrics with their bootstrap 95 % interval."""
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    groups = (("ranking before abstention", [f"hit@{k}" for k in _ks(results[names[0]])] + list(RANKING_ROWS)),
              ("end to end (what the user sees)", E2E_ROWS), ("other", OTHER_ROWS))
    for title, metrics in groups:
        lines.append(f"| **{title}** |" + " |" * len(names))
        for metric in metrics:
            lines.append(f"| {metric} | " + " | ".join(_with_interval(results[n], metric) for n in names) + " |")
    return "\n".join(lines)


def type_table(summary: dict) -> str:
    """One retriever's metrics per question type, with intervals."""
    lines = ["| type | n | " + " | ".join(TYPE_COLUMNS) + " |", "|---|---|" + "---|" * len(TYPE_COLUMNS)]
    for qtype, values in sorted(summary.get("by_type", {}).items()):
        lines.append(f"| {qtype} | {values['n']} | "
                     + " | ".join(_with_interval(values, m) for m in TYPE_COLUMNS) + " |")
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    summary = {n: {k: v for k, v in r.items() if k != "questions"} for n, r in report["retrievers"].items()}
    md = [f"# Retrieval and answer benchmark\n\nQuestions: {', '.join(f'`{f}`' for f in report['questions_files'])} "
          f"({report['n_questions']}), run {report['run_at']} on {report['machine']}. "
          f"Intervals: percentile bootstrap 95 %, {report['bootstrap']['samples']} resamples, "
          f"seed {report['bootstrap']['seed']}.\n", markdown_table(summary)]
    for name, values in summary.items():
        md += [f"\n## Per type: {name}\n", type_table(values)]
    md.append("\n## Misses\n")
    for name, rows in report["misses"].items():
        md.append(f"### {name} ({len(rows)})\n")
        md += [f"- `{m['id']}` ({m['type']}) {m['q']} — expected {m['expected']}; got "
               f"{'(abstained) ' if m['abstained'] else ''}{m['first']}" for m in rows] or ["- none"]
        md.append("")
    return "\n".join(md) + "\n"


def write_reports(report: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out_dir / "eval.json", out_dir / "eval.md", out_dir / "eval.png"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    summary = {n: {k: v for k, v in r.items() if k != "questions"} for n, r in report["retrievers"].items()}
    plot(summary, png_path)
    return [json_path, md_path, png_path]


def plot(summary: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    ks = _ks(next(iter(summary.values())))
    for name, m in summary.items():
        if m.get("hit@1") is not None:
            left.plot(ks, [m[f"hit@{k}"] for k in ks], marker="o", label=name)
    left.set(xlabel="k", ylabel="hit@k", title="hit@k per retriever (before abstention)", xticks=ks, ylim=(0, 1.02))
    left.grid(alpha=0.3)
    left.legend()
    names = list(summary)
    x = range(len(names))
    right.bar([i - 0.2 for i in x], [summary[n]["latency_p50_ms"] for n in names], 0.4, label="p50")
    right.bar([i + 0.2 for i in x], [summary[n]["latency_p95_ms"] for n in names], 0.4, label="p95")
    right.set(xticks=list(x), xticklabels=names, ylabel="ms per question", title="latency (warm, in-process)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_description() -> str:
    import os
    import platform

    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def make_system(name: str, settings) -> System:
    if name == "baseline":
        from qa.evaluation.baseline import BaselineSystem

        return BaselineSystem(settings)
    if name not in RETRIEVERS:
        raise ValueError(f"unknown retriever {name!r}; choose from {', '.join(RETRIEVERS)}")
    from qa.evaluation.systems import PipelineSystem
    from qa.pipeline import ReportQA

    mode = name.removesuffix(BEFORE_READER)
    return PipelineSystem(name, settings, qa=ReportQA(settings, mode=mode, rerank=name == "hybrid"))


def _display_path(path: Path) -> str:
    """Paths inside the project are shown relative to it, so committed reports do not name one machine."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def run_eval(questions: Path | list[Path], retrievers: list[str], settings, out_dir: Path | None,
             progress: bool = True, ks: tuple[int, ...] = KS) -> dict:
    """Check the question files and the options first (a bad line stops everything), then run each retriever."""
    files = [Path(questions)] if isinstance(questions, (str, Path)) else [Path(q) for q in questions]
    gold = load_gold_files(files)
    for name in retrievers:
        if name not in RETRIEVERS:
            raise ValueError(f"unknown retriever {name!r}; choose from {', '.join(RETRIEVERS)}")
    if not ks or any(k < 1 or k > 20 for k in ks):
        raise ValueError("--k takes cut-offs from 1 to 20, e.g. 1,3,5,10")
    ks = tuple(sorted(set(ks)))
    results = {name: evaluate_system(make_system(name, settings), gold, ks, progress) for name in retrievers}
    report = {
        "questions_files": [_display_path(f) for f in files], "n_questions": len(gold),
        "machine": machine_description(), "run_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "seed": SEED, "level": 0.95},
        "retrievers": results,
        "misses": {name: misses(r) for name, r in results.items()},
        "questions": [g.to_json() | {"kind": g.kind, "expected": g.expected} for g in gold],
    }
    if out_dir is not None:
        report["files"] = [_display_path(p) for p in write_reports(report, out_dir)]
    return report


# ---------------------------------------------------------------- comparing two runs


def _row_key(row: dict) -> str:
    return row.get("id") or json.dumps([row.get("history", []), row["q"]], ensure_ascii=False)


def load_report(path: Path) -> dict:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: no such file") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not an eval.json report ({exc})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("retrievers"), dict):
        raise ValueError(f"{path}: not an eval.json report (no \"retrievers\")")
    return report


def compare_runs(report_a: dict, report_b: dict, retrievers: list[str] | None = None) -> dict:
    """Paired comparison, per retriever both runs hold, over the questions both runs hold (matched by id)."""
    names = [n for n in report_a["retrievers"] if n in report_b["retrievers"]]
    if retrievers:
        missing = [n for n in retrievers if n not in names]
        if missing:
            raise ValueError(f"retriever(s) {', '.join(missing)} not in both runs (both have: {', '.join(names)})")
        names = retrievers
    if not names:
        raise ValueError("the two runs have no retriever in common")
    out: dict = {}
    for name in names:
        rows_a = {_row_key(r): r for r in report_a["retrievers"][name]["questions"]}
        rows_b = {_row_key(r): r for r in report_b["retrievers"][name]["questions"]}
        common = [k for k in rows_a if k in rows_b]
        if not common:
            raise ValueError(f"{name}: the two runs share no question")
        changed = [k for k in common if rows_a[k]["kind"] != rows_b[k]["kind"]
                   or rows_a[k]["expected"] != rows_b[k]["expected"]]
        a, b = [rows_a[k] for k in common], [rows_b[k] for k in common]
        ks = tuple(int(m[4:]) for m in report_a["retrievers"][name] if m.startswith("hit@")
                   and m in report_b["retrievers"][name]) or KS
        results = [paired_compare(m, a, b) for m in all_metrics(ks) if m.name in MAIN]
        by_type = {}
        e2e = next(m for m in END_TO_END if m.name == "e2e_accuracy")
        for qtype in dict.fromkeys(r["type"] for r in a):
            keep = [i for i, r in enumerate(a) if r["type"] == qtype]
            by_type[qtype] = vars(paired_compare(e2e, [a[i] for i in keep], [b[i] for i in keep]))
        flips = [{"id": k, "q": rows_a[k]["q"], "type": rows_a[k]["type"], "a": rows_a[k]["correct"],
                  "b": rows_b[k]["correct"]} for k in common if rows_a[k]["correct"] != rows_b[k]["correct"]]
        out[name] = {"n_common": len(common), "only_a": len(rows_a) - len(common), "only_b": len(rows_b) - len(common),
                     "gold_changed": changed, "metrics": [vars(r) for r in results], "e2e_by_type": by_type,
                     "flips": flips}
    return out


def compare_markdown(comparison: dict, label_a: str, label_b: str) -> str:
    lines = [f"# Paired comparison: A = `{label_a}`, B = `{label_b}`\n",
             "Δ = B − A; interval: paired bootstrap 95 %; p: two-sided paired randomisation test "
             "(rows of A and B swapped per question). false_* are counts.\n"]
    for name, c in comparison.items():
        lines.append(f"## {name}: {c['n_common']} questions in both runs"
                     + (f" (only in A: {c['only_a']}, only in B: {c['only_b']})" if c["only_a"] or c["only_b"] else ""))
        if c["gold_changed"]:
            lines.append(f"\nwarning: {len(c['gold_changed'])} question(s) have a different gold answer in the two "
                         f"runs, e.g. {c['gold_changed'][0]}")
        lines += ["", "| metric | n | A | B | Δ | 95 % interval | p | B better | B worse |", "|---|---|---|---|---|---|---|---|---|"]
        for m in c["metrics"]:
            interval = f"[{m['interval'][0]:+.3f}, {m['interval'][1]:+.3f}]" if m["interval"] else "–"
            delta = "–" if m["delta"] is None else f"{m['delta']:+.3f}" if isinstance(m["delta"], float) else f"{m['delta']:+d}"
            lines.append(f"| {m['metric']} | {m['n']} | {_fmt(m['a'])} | {_fmt(m['b'])} | {delta} | {interval} | "
                         f"{_fmt(m['p_value'])} | {m['wins']} | {m['losses']} |")
        lines += ["", "| type (e2e_accuracy) | n | A | B | Δ | p |", "|---|---|---|---|---|---|"]
        for qtype, m in sorted(c["e2e_by_type"].items()):
            delta = "–" if m["delta"] is None else f"{m['delta']:+.3f}"
            lines.append(f"| {qtype} | {m['n']} | {_fmt(m['a'])} | {_fmt(m['b'])} | {delta} | {_fmt(m['p_value'])} |")
        if c["flips"]:
            lines += ["", f"Questions whose end-to-end outcome changed ({len(c['flips'])}):"]
            lines += [f"- `{f['id']}` ({f['type']}) {f['q']}: {'right' if f['a'] else 'wrong'} → "
                      f"{'right' if f['b'] else 'wrong'}" for f in c["flips"]]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="retrieval and answer benchmark on question files, or compare two runs")
    p.add_argument("--questions", type=Path, nargs="+", default=[DEV_QUESTIONS],
                   help=f"one or more question files (JSONL, see eval/README.md; default {_display_path(DEV_QUESTIONS)})")
    p.add_argument("--retrievers", default=None,
                   help=f"comma-separated, from {','.join(RETRIEVERS)} (default: all; with --compare: all both runs have)")
    p.add_argument("--k", default="1,3,5,10", help="hit@k cut-offs, comma-separated (1-20)")
    p.add_argument("--out", type=Path, default=None, help=f"report folder (default {_display_path(DEFAULT_OUT)})")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--compare", type=Path, nargs=2, metavar=("A.json", "B.json"),
                   help="paired comparison of two eval.json runs (no model needed); --retrievers limits it")
    p.add_argument("--library", type=Path, action="append", default=[], metavar="DIR",
                   help="add the reports of DIR (repeatable) to the corpus: a temporary index is built over "
                        "both and evaluated, e.g. --library eval/library --questions eval/library-test.jsonl")
    add_path_options(p)
    p.set_defaults(func=cmd_eval)


def library_settings(settings, folders: list[Path], tmp: Path):
    """Settings for a temporary index over the corpus plus the reports in ``folders`` (built here)."""
    import shutil
    from dataclasses import replace

    from qa.ingest.corpus import corpus_files
    from qa.pipeline import answer_models
    from qa.search.index import build_index

    corpus = tmp / "corpus"
    corpus.mkdir()
    for folder in [settings.corpus_dir, *folders]:
        if not Path(folder).is_dir():
            raise ValueError(f"--library {folder}: no such folder")
        for path in corpus_files(Path(folder)):
            shutil.copy(path, corpus / path.name)
    if (settings.corpus_dir / "aliases.json").is_file():
        shutil.copy(settings.corpus_dir / "aliases.json", corpus / "aliases.json")
    library = replace(settings, corpus_dir=corpus, index_dir=tmp / "index")
    build_index(library, answer_models(), progress=False)
    return library


def cmd_compare(args) -> int:
    path_a, path_b = args.compare
    names = [n.strip() for n in (args.retrievers or "").split(",") if n.strip()]
    comparison = compare_runs(load_report(path_a), load_report(path_b), names or None)
    md = compare_markdown(comparison, _display_path(path_a), _display_path(path_b))
    print(md)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.json").write_text(json.dumps(comparison, ensure_ascii=False, indent=1), encoding="utf-8")
        (args.out / "compare.md").write_text(md, encoding="utf-8")
        print(f"wrote {_display_path(args.out / 'compare.json')}, {_display_path(args.out / 'compare.md')}")
    return 0


def cmd_eval(args) -> int:

    if args.compare:
        return cmd_compare(args)
    names = [n.strip() for n in (args.retrievers or ",".join(RETRIEVERS)).split(",") if n.strip()]
    try:
        ks = tuple(int(k) for k in args.k.split(",") if k.strip())
    except ValueError:
        print(f"error: --k takes integers, e.g. 1,3,5,10 (got {args.k!r})", file=sys.stderr)
        return 2
    out = DEFAULT_OUT if args.out is None else args.out
    import tempfile

    with tempfile.TemporaryDirectory(prefix="qa-library-") as tmp:
        settings = settings_from_args(args)
        if args.library:
            try:
                settings = library_settings(settings, args.library, Path(tmp))
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        report = run_eval(args.questions, names, settings, out, progress=not args.no_progress, ks=ks)
    summary = {n: {k: v for k, v in r.items() if k != "questions"} for n, r in report["retrievers"].items()}
    print(markdown_table(summary))
    for name, values in summary.items():
        print(f"\nper type ({name}):\n{type_table(values)}")
    for name, rows in report["misses"].items():
        print(f"\nmisses ({name}): {len(rows)}")
        for m in rows:
            print(f"  {m['id']} ({m['type']}) {m['q']} — expected {m['expected']}; got "
                  f"{'(abstained) ' if m['abstained'] else ''}{m['first']}")
    if report.get("files"):
        print("\nwrote " + ", ".join(report["files"]))
    return 0
