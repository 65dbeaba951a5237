"""Fit and measure the answer-or-abstain policy: ``qa train-abstain``, per-type reports, ablations.

``python -m qa train-abstain --questions eval/dev.jsonl eval/dev-extra.jsonl --library-questions
eval/library-dev.jsonl eval/library-dev-extra.jsonl --library eval/library`` (or ``python -m
qa.evaluation.abstain_eval train``) runs each dev question through the pipeline over its own temporary index
(``--questions``: of the corpus; ``--library-questions``: of the corpus plus the ``--library`` folders,
built as ``qa eval --library`` builds it), dumps the features of ``qa.answer.abstain`` and refits ``qa/answer/data/answerability.json`` on the union,
reproducibly (fixed folds and seeds; the file records the hashes of the question files and reports).

``python -m qa.evaluation.abstain_eval report --questions FILE`` (and/or ``--library-questions FILE --library
DIR``) runs every question through the pipeline over its index (follow-up resolution, routing, retrieval) and scores what the user sees: an abstention on an
answerable question is a miss. Decisions come from the shipped model, or with ``--oof`` from
out-of-fold probabilities of a model refitted on the same file (the honest figure on the dev
questions the model was fitted on). ``ablate`` refits the model without one group of features at a
time and compares cross-validated abstention figures, on dev only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.answer.abstain import (FEATURES, TARGET_PRECISION, abstention_scores, choose_cutoff, model_path, out_of_fold,
                               question_features, refused_before_model, shipped_policy, train)
from qa.answer.smalltalk import small_talk_kind
from qa.config import PROJECT_ROOT, add_path_options, settings_from_args
from qa.pipeline import ReportQA, Turn

BOOTSTRAP = 2000
SEED = 0


def read_questions(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise SystemExit(f"{path}:{n}: not valid JSON ({exc})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("q"), str):
                raise SystemExit(f'{path}:{n}: expected an object with "q"')
            rows.append(row)
    return rows


def question_type(row: dict) -> str:
    if row.get("type"):
        return str(row["type"])
    if row.get("none"):
        return "none"
    return "multi-department" if "multi" in row else "single"


def run_question(qa, row: dict, k: int = 5):
    """(query, hits) for one question file row, history resolved as the pipeline does."""
    history = [Turn(h) if isinstance(h, str) else Turn(str(h)) for h in row.get("history") or []]
    resolved = qa.resolve_followup(row["q"].strip(), history)
    retriever = qa.retriever
    query = retriever.analyze(resolved)
    return query, qa.ranked(retriever, query, k)


def feature_rows(qa, rows: list[dict]) -> list[dict]:
    """Feature dump: one dict per question with ``id``, ``type``, ``label`` (1 = answerable) and features."""
    out = []
    for row in rows:
        if small_talk_kind(row["q"]):  # answered with help text before any search: nothing to decide
            continue
        query, hits = run_question(qa, row)
        if refused_before_model(query, hits):  # the model never sees these questions
            continue
        values = question_features(query, hits, qa.index)
        out.append({"id": row.get("id", ""), "type": question_type(row), "label": int(not row.get("none")),
                    "q": row["q"], **values})
    return out




@dataclass
class Outcome:
    id: str
    type: str
    q: str
    label: int  # 1 answerable, 0 not
    ranked_hit1: float | None  # single-answer questions: top citation relevant (before abstention)
    ranked_hit5: float | None
    recall5: float | None  # multi-department: share of departments among the top 5
    features: dict
    p: float = 0.0
    abstained: bool = False
    refused: bool = False  # small talk (help text) or refused before the model (qa.answer.abstain.refused_before_model)


def _relevant(row: dict, dept: str, text: str, source: str = "") -> bool:
    reports = row.get("reports") or ([row["report"]] if row.get("report") else [])
    if reports and Path(source).stem not in reports:
        return False
    return (not row.get("dept") or dept in row["dept"]) and (not row.get("must") or any(m in text for m in row["must"]))


def collect(qa, rows: list[dict]) -> list[Outcome]:
    out = []
    for row in rows:
        if small_talk_kind(row["q"]):  # the pipeline answers with help text, citing nothing: an abstention
            out.append(Outcome(row.get("id", ""), question_type(row), row["q"], int(not row.get("none")),
                               None, None, None, {}, refused=True))
            continue
        query, hits = run_question(qa, row, k=5)
        refused = refused_before_model(query, hits)
        feats = {} if refused else question_features(query, hits, qa.index)
        rel = [_relevant(row, h.chunk.dept, h.chunk.text, h.chunk.source) for h in hits]
        single = ("dept" in row or "must" in row) and "multi" not in row and not row.get("none")
        multi = "multi" in row
        recall = (sum(d in {h.chunk.dept for h in hits[:5]} for d in row["multi"]) / len(row["multi"])) if multi else None
        out.append(Outcome(row.get("id", ""), question_type(row), row["q"], int(not row.get("none")),
                           float(any(rel[:1])) if single else None, float(any(rel[:5])) if single else None,
                           recall, feats, refused=refused))
    return out


def decide_all(outcomes: list[Outcome], probabilities, cutoff: float) -> None:
    for o, p in zip(outcomes, probabilities):
        o.p, o.abstained = (0.0, True) if o.refused else (float(p), bool(p < cutoff))


def _interval(values: list[float], stat=np.mean) -> tuple[float, float]:
    if not values:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(SEED)
    arr = np.asarray(values, dtype=float)
    draws = [stat(arr[rng.integers(0, len(arr), len(arr))]) for _ in range(BOOTSTRAP)]
    return (round(float(np.percentile(draws, 2.5)), 3), round(float(np.percentile(draws, 97.5)), 3))


def _rate(values: list[float]) -> dict:
    return {"n": len(values), "value": round(float(np.mean(values)), 3) if values else None,
            "ci95": _interval(values)}


def summarize(outcomes: list[Outcome]) -> dict:
    """Per type and overall figures; each with n and a bootstrap 95 % interval."""
    by_type: dict[str, dict] = {}
    for t in sorted({o.type for o in outcomes}):
        group = [o for o in outcomes if o.type == t]
        row: dict = {"n": len(group)}
        singles = [o for o in group if o.ranked_hit1 is not None]
        if singles:
            row["ranked_hit@1"] = _rate([o.ranked_hit1 for o in singles])
            row["e2e_hit@1"] = _rate([float(o.ranked_hit1 and not o.abstained) for o in singles])
        multis = [o for o in group if o.recall5 is not None]
        if multis:
            row["e2e_multi_recall@5"] = _rate([0.0 if o.abstained else o.recall5 for o in multis])
        if group[0].label == 1:
            row["false_abstentions"] = sum(o.abstained for o in group)
        else:
            row["abstained"] = _rate([float(o.abstained) for o in group])
        by_type[t] = row
    answerable = [o for o in outcomes if o.label == 1]
    none = [o for o in outcomes if o.label == 0]
    abstained = [o for o in outcomes if o.abstained]
    singles = [o for o in answerable if o.ranked_hit1 is not None]
    multis = [o for o in answerable if o.recall5 is not None]

    def precision(sample: np.ndarray) -> float:  # rows: (abstained, is_none)
        picked = sample[sample[:, 0] == 1]
        return float(picked[:, 1].mean()) if len(picked) else 1.0

    pairs = [(float(o.abstained), float(o.label == 0)) for o in outcomes]
    overall = {
        "n": len(outcomes), "n_answerable": len(answerable), "n_unanswerable": len(none),
        "ranked_hit@1": _rate([o.ranked_hit1 for o in singles]),
        "ranked_hit@5": _rate([o.ranked_hit5 for o in singles]),
        "e2e_hit@1": _rate([float(o.ranked_hit1 and not o.abstained) for o in singles]),
        "e2e_multi_recall@5": _rate([0.0 if o.abstained else o.recall5 for o in multis]),
        "false_abstentions": f"{sum(o.abstained for o in answerable)}/{len(answerable)}",
        "abstention_recall": _rate([float(o.abstained) for o in none]),
        "abstention_precision": {
            "n": len(abstained),
            "value": round(sum(o.label == 0 for o in abstained) / len(abstained), 3) if abstained else None,
            "ci95": _interval(pairs, lambda a: precision(np.asarray(a).reshape(-1, 2))) if pairs else None,
        },
    }
    return {"overall": overall, "by_type": by_type}


def _fmt(cell) -> str:
    if isinstance(cell, dict) and "value" in cell:
        if cell["value"] is None:
            return "–"
        lo, hi = cell["ci95"]
        return f"{cell['value']:.3f} [{lo:.2f}, {hi:.2f}] (n={cell['n']})"
    return str(cell)


def markdown(summary: dict) -> str:
    lines = ["| overall | value [95 % CI] |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in summary["overall"].items()]
    lines += ["", "| type | n | ranked hit@1 | e2e hit@1 | multi recall@5 | abstained | false abstentions |",
              "|---|---|---|---|---|---|---|"]
    for t, row in summary["by_type"].items():
        lines.append(f"| {t} | {row['n']} | {_fmt(row.get('ranked_hit@1', '–'))} | {_fmt(row.get('e2e_hit@1', '–'))} | "
                     f"{_fmt(row.get('e2e_multi_recall@5', '–'))} | {_fmt(row.get('abstained', '–'))} | "
                     f"{row.get('false_abstentions', '–')} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- ablations (dev only)

ABLATIONS = {
    "all features": (),
    "− reader (today's policy, refitted)": ("reader_best",),
    "reader alone": tuple(f for f in FEATURES if f != "reader_best"),
    "reader + detail unsupported": tuple(f for f in FEATURES if f not in ("reader_best", "detail_unsupported",
                                                                          "statistic_gap")),
    "− synonym coverage": ("cover_synonym",),
    "− passage coverage (cover_top, dept_topic_gap)": ("cover_top", "dept_topic_gap"),
    "+ keyword share, left out of the model": ("+keyword_share",),
    "+ unknown place, left out of the model": ("+unknown_place",),
    "− unknown organisation": ("unknown_org",),
    "− detail unsupported (number of a unit / time / place asked, no clause near the topic gives one)":
        ("detail_unsupported", "statistic_gap"),
    "− statistic gap (detail unsupported × top-passage coverage)": ("statistic_gap",),
    "− department elsewhere": ("dept_elsewhere",),
    "− department evidence": ("named_dept", "dept_topic_gap", "dept_elsewhere", "unknown_org"),
    "− dense (best, margin, hit, clause)": ("dense_best", "dense_margin", "dense_hit", "clause_best"),
    "− corpus coverage (exact, bigram, synonym)": ("cover_exact", "cover_bigram", "cover_synonym"),
}


def ablate(rows: list[dict]) -> list[dict]:
    y = np.array([r["label"] for r in rows])
    out = []
    for name, dropped in ABLATIONS.items():
        feats = tuple(f for f in FEATURES if f not in dropped) + tuple(f[1:] for f in dropped if f[0] == "+")
        policy, oof = train(rows, feats)
        cut = choose_cutoff(oof, y)
        s = abstention_scores(oof, y, cut)
        out.append({"model": name, "features": len(feats), "C": policy.validation["C"], "cutoff": round(cut, 3),
                    **s, "brier": policy.validation["brier"]})
    return out


# ---------------------------------------------------------------- question sets and their indexes

SHIPPED, LIBRARY = "shipped", "library"
EXTRA = "extra:"  # + the folder: questions judged against corpus/ plus that folder alone (--extra-library)


@dataclass
class QuestionSet:
    """Question files judged against one index: the shipped report's (``corpus/``) or a library's
    (``corpus/`` plus the reports of ``--library`` folders, indexed into a temporary folder)."""

    corpus: str  # SHIPPED, LIBRARY or EXTRA + folder
    files: list[Path]
    qa: ReportQA


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_qa(args, synonym_weight: float | None = None, settings=None) -> ReportQA:
    qa = ReportQA(settings or settings_from_args(args))
    if synonym_weight is not None:
        qa.retriever.synonym_weight = synonym_weight
    return qa


@contextmanager
def question_sets(args, synonym_weight: float | None = None) -> Iterator[list[QuestionSet]]:
    """``--questions`` against a temporary index of the corpus, ``--library-questions`` against one of the
    corpus plus the ``--library`` folders (both built as ``qa eval --library`` builds it)."""
    questions = list(getattr(args, "questions", None) or [])
    library_questions = list(getattr(args, "library_questions", None) or [])
    extra = [(Path(group[0]), [Path(f) for f in group[1:]]) for group in getattr(args, "extra_library", None) or []]
    if not questions and not library_questions and not extra:
        raise SystemExit("error: give --questions, --library-questions and/or --extra-library")
    for folder, files in extra:
        if not files:
            raise SystemExit(f"error: --extra-library {folder}: give the folder, then its question files")
    if library_questions and not args.library:
        raise SystemExit("error: --library-questions needs --library DIR (the library's reports)")
    from qa.evaluation.evaluate import library_settings

    sets = []
    with tempfile.TemporaryDirectory(prefix="qa-abstain-") as tmp:
        # Both indexes are built here, so fitting never depends on the state of ./index (whose manifest
        # names the answerability model it was built with: a refit makes it stale until the next build).
        if questions:
            (Path(tmp) / "shipped").mkdir()
            settings = library_settings(settings_from_args(args), [], Path(tmp) / "shipped")
            sets.append(QuestionSet(SHIPPED, questions, _load_qa(args, synonym_weight, settings)))
        if library_questions:
            (Path(tmp) / "library").mkdir()
            try:
                settings = library_settings(settings_from_args(args), list(args.library), Path(tmp) / "library")
            except ValueError as exc:
                raise SystemExit(f"error: {exc}") from exc
            sets.append(QuestionSet(LIBRARY, library_questions, _load_qa(args, synonym_weight, settings)))
        for number, (folder, files) in enumerate(extra):
            work = Path(tmp) / f"extra-{number}"
            work.mkdir()
            try:
                settings = library_settings(settings_from_args(args), [folder], work)
            except ValueError as exc:
                raise SystemExit(f"error: {exc}") from exc
            sets.append(QuestionSet(EXTRA + _display(folder), files, _load_qa(args, synonym_weight, settings)))
        yield sets


def _display(folder: Path) -> str:
    path = Path(folder).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def source_record(sets: list[QuestionSet], library: list[Path]) -> dict:
    """What a model was fitted on: each question file (name, sha256, corpus) and the library's reports."""
    from qa.ingest.corpus import corpus_files

    files = [{"file": Path(f).name, "sha256": _sha256_file(f), "corpus": s.corpus} for s in sets for f in s.files]
    record: dict = {"files": files}
    if any(s.corpus == LIBRARY for s in sets):
        record["library"] = [{"file": f.name, "sha256": _sha256_file(f)}
                             for folder in library for f in sorted(corpus_files(Path(folder)))]
    for qs in sets:
        if qs.corpus.startswith(EXTRA):
            folder = PROJECT_ROOT / qs.corpus.removeprefix(EXTRA)  # _display: relative to the project, or absolute
            record.setdefault("extra_libraries", {})[qs.corpus.removeprefix(EXTRA)] = [
                {"file": f.name, "sha256": _sha256_file(f)} for f in sorted(corpus_files(folder))]
    return record


def set_feature_rows(sets: list[QuestionSet]) -> list[dict]:
    """Feature rows of every set, each computed against its own index and tagged with ``corpus``."""
    rows = []
    for qs in sets:
        for path in qs.files:
            rows += [{"corpus": qs.corpus, **r} for r in feature_rows(qs.qa, read_questions(path))]
    return rows


# ---------------------------------------------------------------- command line


def cmd_train(args) -> int:
    with question_sets(args) as sets:
        data = set_feature_rows(sets)
        source = source_record(sets, args.library)
    policy, oof = train(data, precision=args.precision, source=source)
    out = Path(args.out)
    out.write_text(policy.to_json(), encoding="utf-8")
    v = policy.validation
    print(f"wrote {out}: {policy.version}, C={v['C']}, cut-off {policy.cutoff}; cross-validated on "
          f"{len(data)} questions: abstention precision {v['precision']}, recall {v['recall']}, "
          f"false abstentions {v['false_abstentions']}, Brier {v['brier']}, ECE {v['calibration_error']}")
    if args.dump:
        write_dump(Path(args.dump), data, oof)
    return 0


def write_dump(path: Path, data: list[dict], oof) -> None:
    path.write_text("".join(json.dumps(r | {"oof": round(float(p), 4)}, ensure_ascii=False) + "\n"
                            for r, p in zip(data, oof)), encoding="utf-8")


def _add_question_arguments(p: argparse.ArgumentParser, required_help: str) -> None:
    p.add_argument("--questions", type=Path, nargs="+", default=[],
                   help=f"{required_help} about the shipped report, judged against its index alone (JSONL)")
    p.add_argument("--library-questions", type=Path, nargs="+", default=[],
                   help=f"{required_help} about the library, judged against an index of the corpus plus --library")
    p.add_argument("--library", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder of more reports (repeatable), e.g. eval/library")
    p.add_argument("--extra-library", nargs="+", action="append", default=[], metavar="DIR FILE",
                   help=f"a folder of reports, then {required_help} judged against corpus/ plus that folder alone "
                        "(repeatable), e.g. data/reader/reports/dev data/reader/eval/reader-dev.jsonl")
    add_path_options(p)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    _add_question_arguments(p, "dev questions")
    p.add_argument("--out", default=str(model_path()))
    p.add_argument("--precision", type=float, default=TARGET_PRECISION, help="abstention precision the cut-off keeps")
    p.add_argument("--dump", help="also write the feature rows with out-of-fold probabilities (JSONL)")
    p.set_defaults(func=cmd_train)


def add_parser(sub) -> None:
    """``qa train-abstain`` on the main CLI."""
    add_train_arguments(sub.add_parser("train-abstain", help="refit the answer-or-abstain model on dev questions"))


def _outcome_rows(outcomes: list[Outcome]) -> list[dict]:
    return [{"label": o.label, **o.features} for o in outcomes]


def cmd_report(args) -> int:
    with question_sets(args, args.synonym_weight) as sets:
        groups = [(f"{qs.corpus}: {Path(f).name}", collect(qs.qa, read_questions(f))) for qs in sets for f in qs.files]
    everything = [o for _, g in groups for o in g]
    if args.oof:
        modelled = [o for o in everything if not o.refused]
        data = _outcome_rows(modelled)
        y = np.array([o.label for o in modelled])
        policy, _ = train(data)
        X = np.array([[d[f] for f in FEATURES] for d in data])
        oof = out_of_fold(X, y, policy.validation["C"])
        probabilities = iter(oof)
        decide_all(everything, [0.0 if o.refused else next(probabilities) for o in everything], choose_cutoff(oof, y))
        source = (f"out-of-fold (model refitted on the {len(modelled)} questions it decides; "
                  f"{len(everything) - len(modelled)} refused before it)")
    else:
        policy = shipped_policy()
        decide_all(everything, [0.0 if o.refused else policy.probability(o.features) for o in everything],
                   policy.cutoff)
        source = f"shipped model {policy.version}, cut-off {policy.cutoff}"
    if len(groups) > 1:
        groups.append(("all", everything))
    summaries = {}
    for name, outcomes in groups:
        summaries[name] = summary = summarize(outcomes)
        print(f"# {name}: {source}\n")
        print(markdown(summary) + "\n")
    misses = [o for o in everything if (o.label == 0) != o.abstained or (o.ranked_hit1 == 0.0)]
    print(f"misses: {len(misses)}")
    if args.show_misses:
        for o in misses:
            print(f"  [{o.type}] {o.q} p={o.p:.3f} abstained={o.abstained} hit1={o.ranked_hit1}")
    if args.out:
        Path(args.out).write_text(json.dumps({"source": source, "summaries": summaries, "questions": [
            {"id": o.id, "type": o.type, "p": round(o.p, 4), "abstained": o.abstained, "ranked_hit1": o.ranked_hit1,
             "recall5": o.recall5} for o in everything]}, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


def cmd_ablate(args) -> int:
    with question_sets(args) as sets:
        rows = set_feature_rows(sets)
    print("| model | features | C | cut-off | abstention precision | recall | false abstentions | Brier |")
    print("|---|---|---|---|---|---|---|---|")
    for r in ablate(rows):
        print(f"| {r['model']} | {r['features']} | {r['C']} | {r['cutoff']} | {r['precision']} | {r['recall']} | "
              f"{r['false_abstentions']} | {r['brier']} |")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qa.evaluation.abstain_eval", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="refit the answer-or-abstain model on dev questions"))
    p = sub.add_parser("report", help="per-type figures with bootstrap intervals")
    _add_question_arguments(p, "questions")
    p.add_argument("--oof", action="store_true", help="decide with out-of-fold probabilities (dev)")
    p.add_argument("--synonym-weight", type=float, default=None, help="override the keyword synonym weight")
    p.add_argument("--show-misses", action="store_true")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("ablate", help="cross-validated abstention figures without each feature group (dev only)")
    _add_question_arguments(p, "dev questions")
    p.set_defaults(func=cmd_ablate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
