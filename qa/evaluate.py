"""Retrieval benchmark: ``python -m qa eval --questions FILE``.

Gold-set lines (JSONL)::

    {"q": "...", "dept": ["区城管局"], "must": ["垃圾分类"]}   a hit: a citation of one of dept containing any must
    {"q": "...", "multi": ["区民政局", "区数据资源局"]}        all must appear among the top 5 citations
    {"q": "...", "none": true}                              the system must abstain

Hit@k, MRR@10 and nDCG@10 are computed on the ranked citations of the
single-answer (dept) questions, before any abstention, so retrievers are
compared on ranking alone; abstention is scored separately on the answers.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import PROJECT_ROOT

DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"
DEFAULT_OUT = PROJECT_ROOT / "eval" / "results"
RETRIEVERS = ("keyword", "dense", "hybrid", "baseline")
KS = (1, 3, 5, 10)


class GoldSetError(ValueError):
    """A malformed gold-set line: the message names FILE:LINE."""


@dataclass
class GoldQuestion:
    q: str
    kind: str  # "dept" | "multi" | "none"
    dept: list[str] = field(default_factory=list)
    must: list[str] = field(default_factory=list)
    multi: list[str] = field(default_factory=list)
    line: int = 0
    report: str = ""  # the report (file stem) the answer must come from, in a library of several
    reports: list[str] = field(default_factory=list)  # "cross": each of these reports must be cited

    def relevant(self, dept: str, text: str, passage_id: str = "") -> bool:
        in_report = not self.report or not passage_id or passage_id.startswith(f"{self.report}/")
        dept_ok = not self.dept or dept in self.dept
        return in_report and dept_ok and (not self.must or any(m in text for m in self.must))

    @property
    def expected(self) -> str:
        if self.kind == "dept":
            where = f"{self.report}: " if self.report else ""
            return f"{where}{'/'.join(self.dept) or '*'} ∋ {'|'.join(self.must) or '*'}"
        if self.kind == "cross":
            return f"{'/'.join(self.dept)} from each of " + "、".join(self.reports)
        if self.kind == "multi":
            return "all of " + "、".join(self.multi)
        return "abstain"


def _str_list(value, where: str, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise GoldSetError(f"{where}: {name!r} must be a non-empty list of strings")
    return value


def parse_gold_line(text: str, where: str) -> GoldQuestion:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise GoldSetError(f"{where}: not valid JSON ({exc.args[0]})") from exc
    if not isinstance(obj, dict):
        raise GoldSetError(f"{where}: expected a JSON object")
    q = obj.get("q")
    if not isinstance(q, str) or not q.strip():
        raise GoldSetError(f'{where}: "q" must be a non-empty string')
    if "must" in obj and "dept" not in obj and "report" in obj:
        obj = dict(obj, dept=[])  # a passage of a report without departments (a work report)
    kinds = [k for k in ("dept", "multi", "none") if k in obj]
    if len(kinds) != 1:
        raise GoldSetError(f'{where}: give exactly one of "dept" (with "must"), "multi" or "none"; found {kinds or "none of them"}')
    unknown = set(obj) - {"q", "dept", "must", "multi", "none", "note", "id", "type", "report", "reports", "history"}
    if unknown:
        raise GoldSetError(f"{where}: unknown field(s) {sorted(unknown)}")
    kind = kinds[0]
    if kind == "none":
        if obj["none"] is not True:
            raise GoldSetError(f'{where}: "none" must be true')
        return GoldQuestion(q.strip(), "none")
    if kind == "multi":
        return GoldQuestion(q.strip(), "multi", multi=_str_list(obj["multi"], where, "multi"))
    must = _str_list(obj["must"], where, "must") if "must" in obj else []
    dept = _str_list(obj["dept"], where, "dept") if obj["dept"] or "report" not in obj else []
    if "reports" in obj:
        return GoldQuestion(q.strip(), "cross", dept=dept, reports=_str_list(obj["reports"], where, "reports"))
    report = obj.get("report", "")
    if not isinstance(report, str):
        raise GoldSetError(f'{where}: "report" must be a file stem (string)')
    return GoldQuestion(q.strip(), "dept", dept=dept, must=must, report=report)


def load_gold(path: Path) -> list[GoldQuestion]:
    """Every line of ``path`` parsed; the first bad line raises GoldSetError naming FILE:LINE."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise GoldSetError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise GoldSetError(f"{path}: not UTF-8") from exc
    questions = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            question = parse_gold_line(line, f"{path}:{n}")
            question.line = n
            questions.append(question)
    if not questions:
        raise GoldSetError(f"{path}: no questions")
    return questions


# ---------------------------------------------------------------- metrics


def rank_metrics(relevance: list[bool], n_relevant: int, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """hit@k, reciprocal rank @10 and nDCG@10 (binary gains, ideal = all relevant items first)."""
    out = {f"hit@{k}": float(any(relevance[:k])) for k in ks}
    first = next((i for i, r in enumerate(relevance[:10]) if r), None)
    out["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(relevance[:10]) if r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(max(n_relevant, 1), 10)))
    out["ndcg@10"] = dcg / ideal
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Ranked:
    """What one system returned for one question: (dept, text) best first, and whether it abstained."""

    citations: list[tuple[str, str, str]]  # (id, dept, text)
    abstained: bool
    seconds: float


class System:
    """A retriever under test: ``run(question) -> Ranked`` and ``count_relevant``."""

    name: str

    def run(self, question: str, depth: int = 10) -> Ranked: ...

    def count_relevant(self, gold: GoldQuestion) -> int: ...


class PipelineSystem(System):
    def __init__(self, name: str, settings):
        from qa.pipeline import ReportQA

        self.name = name
        self.qa = ReportQA(settings, mode=name)

    def run(self, question: str, depth: int = 10) -> Ranked:
        t0 = time.perf_counter()
        answer = self.qa.ask(question, k=depth)
        seconds = time.perf_counter() - t0
        if answer.abstained:  # rank anyway, so ranking metrics do not depend on abstention
            hits = self.qa.retriever.search(question, depth)
            cites = [(h.chunk.id, h.chunk.dept or h.chunk.title, h.chunk.text) for h in hits]
        else:  # a passage outside any department (a report's opening) is matched by its report's title
            cites = [(c.id, c.dept or c.report, c.text) for c in answer.citations]
        return Ranked(cites, answer.abstained, seconds)

    def count_relevant(self, gold: GoldQuestion) -> int:
        return sum(gold.relevant(c.dept or c.title, c.text, c.id) for c in self.qa.index.chunks)


def evaluate_system(system: System, gold: list[GoldQuestion], ks: tuple[int, ...] = KS,
                    progress: bool = True) -> dict:
    from tqdm import tqdm

    depth = max(10, *ks)
    per_question, latencies = [], []
    for g in tqdm(gold, desc=system.name, unit="q", disable=not progress, file=sys.stderr):
        ranked = system.run(g.q, depth)
        latencies.append(ranked.seconds)
        row = {"q": g.q, "kind": g.kind, "expected": g.expected, "abstained": ranked.abstained,
               "top": [f"{d} · {' '.join(t.split())[:40]}" for _, d, t in ranked.citations[:3]], "seconds": round(ranked.seconds, 5),
               "cited_chars": sum(len(t) for _, _, t in ranked.citations[:5]) / max(len(ranked.citations[:5]), 1)}
        if g.kind == "dept":
            relevance = [g.relevant(d, t, cid) for cid, d, t in ranked.citations]
            row.update(rank_metrics(relevance, system.count_relevant(g), ks))
        elif g.kind == "cross":  # a department several reports have: each report among the top 5
            found = {cid.split("/")[0] for cid, d, _ in ranked.citations[:5] if d in g.dept}
            row["reports@5"] = sum(r in found for r in g.reports) / len(g.reports)
        elif g.kind == "multi":
            found = {d for _, d, _ in ranked.citations[:5]}
            row["recall@5"] = sum(d in found for d in g.multi) / len(g.multi)
        per_question.append(row)
    return summarize(per_question, latencies, ks) | {"questions": per_question}


def summarize(rows: list[dict], latencies: list[float], ks: tuple[int, ...] = KS) -> dict:
    single = [r for r in rows if r["kind"] == "dept"]
    multi = [r for r in rows if r["kind"] == "multi"]
    none = [r for r in rows if r["kind"] == "none"]
    cross = [r for r in rows if r["kind"] == "cross"]
    answerable = [r for r in rows if r["kind"] != "none"]
    mean = lambda xs: round(statistics.fmean(xs), 4) if xs else None  # noqa: E731
    abstained = [r for r in rows if r["abstained"]]
    correct = sum(r["kind"] == "none" for r in abstained)
    metrics = {f"hit@{k}": mean([r[f"hit@{k}"] for r in single]) for k in ks}
    metrics.update({
        "mrr": mean([r["mrr"] for r in single]),
        "ndcg@10": mean([r["ndcg@10"] for r in single]),
        "multi_recall@5": mean([r["recall@5"] for r in multi]),
        "multi_all@5": mean([float(r["recall@5"] == 1.0) for r in multi]),
        "cross_all@5": mean([float(r["reports@5"] == 1.0) for r in cross]),
        "abstain_precision": round(correct / len(abstained), 4) if abstained else None,
        "abstain_recall": round(correct / len(none), 4) if none else None,
        "abstained_unanswerable": f"{correct}/{len(none)}",
        "false_abstentions": sum(r["abstained"] for r in answerable),
        "mean_cited_chars": mean([r["cited_chars"] for r in single]),
        "latency_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "latency_p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "n_single": len(single), "n_multi": len(multi), "n_none": len(none), "n_cross": len(cross),
    })
    return metrics


def misses(result: dict) -> list[dict]:
    out = []
    for r in result["questions"]:
        missed = (
            (r["kind"] == "dept" and not r["hit@1"]) or (r["kind"] == "multi" and r["recall@5"] < 1)
            or (r["kind"] == "cross" and r["reports@5"] < 1)
            or (r["kind"] == "none") != r["abstained"]
        )
        if missed:
            out.append({"q": r["q"], "expected": r["expected"], "abstained": r["abstained"],
                        "first": r["top"][0] if r["top"] else ""})
    return out


# ---------------------------------------------------------------- reports

TABLE_METRICS = ("mrr", "ndcg@10", "multi_recall@5", "cross_all@5", "abstain_precision", "abstain_recall", "false_abstentions",
                 "mean_cited_chars", "latency_p50_ms", "latency_p95_ms")


def _ks(summary: dict) -> list[int]:
    return sorted(int(key[4:]) for key in summary if key.startswith("hit@"))


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    return str(value)


def markdown_table(results: dict[str, dict]) -> str:
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for metric in [f"hit@{k}" for k in _ks(results[names[0]])] + list(TABLE_METRICS):
        lines.append(f"| {metric} | " + " | ".join(_fmt(results[n].get(metric)) for n in names) + " |")
    return "\n".join(lines)


def write_reports(report: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out_dir / "eval.json", out_dir / "eval.md", out_dir / "eval.png"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    summary = {n: {k: v for k, v in r.items() if k != "questions"} for n, r in report["retrievers"].items()}
    md = [f"# Retrieval benchmark\n\nQuestions: `{report['questions_file']}` ({report['n_questions']}), "
          f"run {report['run_at']} on {report['machine']}.\n", markdown_table(summary), "\n## Misses\n"]
    for name, rows in report["misses"].items():
        md.append(f"### {name} ({len(rows)})\n")
        md += [f"- {m['q']} — expected {m['expected']}; got {'(abstained) ' if m['abstained'] else ''}{m['first']}"
               for m in rows] or ["- none"]
        md.append("")
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    plot(summary, png_path)
    return [json_path, md_path, png_path]


def plot(summary: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    ks = _ks(next(iter(summary.values())))
    for name, m in summary.items():
        left.plot(ks, [m[f"hit@{k}"] for k in ks], marker="o", label=name)
    left.set(xlabel="k", ylabel="hit@k", title="hit@k per retriever", xticks=ks, ylim=(0, 1.02))
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
        from qa.baseline import BaselineSystem

        return BaselineSystem(settings)
    if name not in ("keyword", "dense", "hybrid"):
        raise ValueError(f"unknown retriever {name!r}; choose from {', '.join(RETRIEVERS)}")
    return PipelineSystem(name, settings)


def _display_path(path: Path) -> str:
    """Paths inside the project are shown relative to it, so committed reports do not name one machine."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def run_eval(questions: Path, retrievers: list[str], settings, out_dir: Path | None, progress: bool = True,
             ks: tuple[int, ...] = KS) -> dict:
    """Check the gold file and the options first (a bad line stops everything), then run each retriever."""
    gold = load_gold(questions)
    for name in retrievers:
        if name not in RETRIEVERS:
            raise ValueError(f"unknown retriever {name!r}; choose from {', '.join(RETRIEVERS)}")
    if not ks or any(k < 1 or k > 20 for k in ks):
        raise ValueError("--k takes cut-offs from 1 to 20, e.g. 1,3,5,10")
    results = {name: evaluate_system(make_system(name, settings), gold, tuple(sorted(set(ks))), progress)
               for name in retrievers}
    report = {
        "questions_file": _display_path(questions), "n_questions": len(gold), "machine": machine_description(),
        "run_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "retrievers": results,
        "misses": {name: misses(r) for name, r in results.items()},
        "questions": [{"q": g.q, "kind": g.kind, "expected": g.expected} for g in gold],
    }
    if out_dir is not None:
        report["files"] = [_display_path(p) for p in write_reports(report, out_dir)]
    return report


def add_parser(sub, add_paths) -> None:
    p = sub.add_parser("eval", help="retrieval benchmark on a gold question set")
    p.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    p.add_argument("--retrievers", default="keyword,dense,hybrid,baseline")
    p.add_argument("--k", default="1,3,5,10", help="hit@k cut-offs, comma-separated (1-20)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--library", type=Path, action="append", default=[], metavar="DIR",
                   help="add the reports of DIR (repeatable) to the corpus: a temporary index is built over "
                        "both and evaluated, e.g. --library eval/library --questions eval/library-questions.jsonl")
    add_paths(p)
    p.set_defaults(func=cmd_eval)


def library_settings(settings, folders: list[Path], tmp: Path):
    """Settings for a temporary index over the corpus plus the reports in ``folders`` (built here)."""
    import shutil
    from dataclasses import replace

    from qa.corpus import corpus_files
    from qa.index import build_index

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
    build_index(library, progress=False)
    return library


def cmd_eval(args) -> int:
    from qa.cli import _settings

    names = [n.strip() for n in args.retrievers.split(",") if n.strip()]
    try:
        ks = tuple(int(k) for k in args.k.split(",") if k.strip())
    except ValueError:
        print(f"error: --k takes integers, e.g. 1,3,5,10 (got {args.k!r})", file=sys.stderr)
        return 2
    import tempfile

    with tempfile.TemporaryDirectory(prefix="qa-library-") as tmp:
        settings = library_settings(_settings(args), args.library, Path(tmp)) if args.library else _settings(args)
        report = run_eval(args.questions, names, settings, args.out, progress=not args.no_progress, ks=ks)
    summary = {n: {k: v for k, v in r.items() if k != "questions"} for n, r in report["retrievers"].items()}
    print(markdown_table(summary))
    for name, rows in report["misses"].items():
        print(f"\nmisses ({name}): {len(rows)}")
        for m in rows:
            print(f"  {m['q']} — expected {m['expected']}; got {'(abstained) ' if m['abstained'] else ''}{m['first']}")
    if report.get("files"):
        print("\nwrote " + ", ".join(report["files"]))
    return 0
