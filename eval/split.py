"""Split a blind question file ONCE into dev and test: ``python eval/split.py shipped|library``.

* Every line is parsed (qa/evaluation/gold.py) and checked against the reports it is about. Only mechanical errors
  are repaired: a department name that is not in the reports but is, unambiguously, a typo or a short
  form of one that is (``区城管``, ``城管局`` -> ``区城管局``). Every repair and every dropped line is
  listed in the split log (eval/splits/<name>.json) and on stdout.
* The split is stratified by question type and seeded: within each type, questions sorted by id are
  shuffled with ``random.Random(f"{SEED}:{type}")`` and the first round(40 %) go to dev, the rest to
  test. The same input gives the same split on any machine.
* A blind question that is (nearly) the same as one of the first gold set (eval/questions.jsonl, the
  questions the code was developed on) goes to dev, never to test: similarity >= 0.8
  (difflib ratio on the text without punctuation, quotes and spaces). Those are the questions the
  code was fitted to; on test they would flatter it. The moved ids are listed in the split log.
* ``shipped``: dev also gets the 80 questions of eval/questions.jsonl (the first gold set, written with
  the code, now typed). ``library``: the blind file over the reports of the library corpus.
* Output files exist -> the script refuses (the split is done once; ``--force`` only to reproduce it
  byte for byte, e.g. after a fresh checkout, and it checks that nothing changed).

A later blind batch (``python eval/split.py shipped --extra-dev FILE``) goes to dev only, into its own file
(``eval/dev-extra.jsonl``, ``eval/library-dev-extra.jsonl``): checked against the passages, and a question that (nearly)
repeats a test question (same similarity) is dropped, so nothing test-like is tuned on. Test never changes.

Check modes: "passages" checks each "must" against the passages of its department (the parser's view,
exact); "text" checks departments and "must" strings against the raw report text (used while the parser
does not yet read a report's layout, e.g. a plain-text department plan).
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.ingest.corpus import load_corpus, read_report_text  # noqa: E402
from qa.evaluation.gold import GoldQuestion, GoldSetError, check_against_corpus, load_gold, parse_gold_line  # noqa: E402

SEED = 20261129
DEV_SHARE = 0.4
LEAK_SIMILARITY = 0.8
FIRST_GOLD_SET = ROOT / "eval" / "questions.jsonl"
STAGING = Path("/work/staging/questions")

SPLITS = {
    "shipped": {
        "blind": STAGING / "shipped-blind.jsonl",
        "dev_extra": [ROOT / "eval" / "questions.jsonl"],
        "reports": [ROOT / "corpus"],
        "check": "passages",
        "dev": ROOT / "eval" / "dev.jsonl",
        "test": ROOT / "eval" / "test.jsonl",
        "staging": {"dev": STAGING / "dev.jsonl", "test": STAGING / "test.jsonl"},
        "ready": STAGING.parent / "split-ready",
        "second_batch_dev": ROOT / "eval" / "dev-extra.jsonl",
    },
    "library": {
        "blind": STAGING / "library-blind.jsonl",
        "dev_extra": [],
        "reports": [ROOT / "corpus", ROOT / "eval" / "library", STAGING.parent / "library"],
        "check": "text",
        "dev": ROOT / "eval" / "library-dev.jsonl",
        "test": ROOT / "eval" / "library-test.jsonl",
        "staging": {"dev": STAGING / "library-dev.jsonl", "test": STAGING / "library-test.jsonl"},
        "ready": STAGING.parent / "library-split-ready",
        "second_batch_dev": ROOT / "eval" / "library-dev-extra.jsonl",
    },
}


# ---------------------------------------------------------------- reading and checking


def read_blind(path: Path) -> tuple[list[GoldQuestion], list[dict]]:
    """Parsed questions, and the lines that do not parse (with the reason)."""
    questions, dropped = [], []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            question = parse_gold_line(line, f"{path.name}:{n}")
        except GoldSetError as exc:
            dropped.append({"line": n, "reason": str(exc)})
            continue
        question.line = n
        question.id = question.id or f"{path.stem}:{n}"
        if question.id in seen:
            dropped.append({"line": n, "id": question.id, "reason": "duplicate id"})
            continue
        seen.add(question.id)
        questions.append(question)
    return questions, dropped


def report_texts(folders: list[Path]) -> dict[str, str]:
    """Report file stem -> raw text, first folder wins (for the "text" check)."""
    texts: dict[str, str] = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in (".md", ".txt", ".docx", ".pdf") and path.stem not in texts:
                    texts[path.stem] = read_report_text(path)
    return texts


def text_problems(questions: list[GoldQuestion], texts: dict[str, str]) -> dict[str, list[str]]:
    """The "text" check: report stems exist, departments and "must" strings occur in the report text."""
    problems: dict[str, list[str]] = {}
    for g in questions:
        found = [f"unknown report {s!r}" for s in ([g.report] if g.report else []) + g.reports if s not in texts]
        scope = [texts[s] for s in ([g.report] if g.report else g.reports or texts) if s in texts]
        for dept in g.dept + g.multi:
            if not any(dept in t for t in scope):
                found.append(f"unknown department {dept!r}")
        if not found and g.must and not any(m in t for m in g.must for t in scope):
            found.append(f"none of {g.must} occurs verbatim in the report text")
        if not found and g.kind == "reports":
            for stem in g.reports:
                if any(d not in texts[stem] for d in g.dept):
                    found.append(f"report {stem!r} does not mention {'/'.join(g.dept)}")
        if found:
            problems[g.id] = found
    return problems


def known_departments(folders: list[Path], texts: dict[str, str]) -> list[str]:
    names: set[str] = set()
    for folder in folders:
        if folder.is_dir():
            names.update(load_corpus(folder).departments)
    for text in texts.values():  # headings of layouts the parser may not read yet: 区XX局 / XX办 at line start
        names.update(re.findall(r"^[#\s▶一二三四五六七八九十、（）()0-9.]*(区[\u4e00-\u9fff]{1,10}?(?:局|办|委))", text, re.M))
    return sorted(names)


def repair_department(name: str, known: list[str]) -> str | None:
    """The one known department ``name`` is a typo or short form of, else None."""
    candidates = [k for k in known if name in k or k in name or (name.lstrip("区") and k.endswith(name.lstrip("区")))]
    if len(candidates) == 1:
        return candidates[0]
    if len(name) < 5:  # 区民正局 / 区财政局 vs 区民政局: one character apart, but which one? Do not guess.
        return None
    close = difflib.get_close_matches(name, known, n=2, cutoff=0.8)
    return close[0] if len(close) == 1 else None


def check(config: dict, questions: list[GoldQuestion]) -> tuple[list[GoldQuestion], list[dict], list[dict]]:
    """Questions that pass, the repairs made, and the questions dropped (with why)."""
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "corpus"
        merged.mkdir()
        for folder in config["reports"]:
            if folder.is_dir():
                for path in folder.iterdir():
                    if path.is_file() and not (merged / path.name).exists():
                        shutil.copy(path, merged / path.name)
        texts = report_texts([merged])
        corpus = load_corpus(merged)
        known = known_departments([merged], texts)

        def problems_of(qs):
            if config["check"] == "passages":
                return check_against_corpus(qs, corpus)
            return text_problems(qs, texts)

        problems = problems_of(questions)
    repairs, dropped, kept = [], [], []
    for g in questions:
        if g.id in problems:
            unknown = [p.split("'")[1] for p in problems[g.id] if p.startswith("unknown department")]
            fixes = {d: repair_department(d, known) for d in unknown}
            if unknown and len(unknown) == len(problems[g.id]) and all(fixes.values()):
                g.dept = [fixes.get(d, d) for d in g.dept]
                g.multi = [fixes.get(d, d) for d in g.multi]
                if not (problems_of([g]) if config["check"] == "text" else check_against_corpus([g], corpus)):
                    repairs.append({"id": g.id, "line": g.line, "fixed": fixes})
                    kept.append(g)
                    continue
            dropped.append({"id": g.id, "line": g.line, "reason": "; ".join(problems[g.id])})
            continue
        kept.append(g)
    return kept, repairs, dropped


# ---------------------------------------------------------------- splitting


def _plain(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text)


def seen_before(questions: list[GoldQuestion], first: list[GoldQuestion],
                threshold: float = LEAK_SIMILARITY) -> dict[str, str]:
    """Blind question id -> the first-gold-set id it (nearly) repeats."""
    out = {}
    for g in questions:
        for f in first:
            if difflib.SequenceMatcher(None, _plain(g.q), _plain(f.q)).ratio() >= threshold:
                out[g.id] = f.id
                break
    return out


def stratified_split(questions: list[GoldQuestion], seed: int = SEED,
                     dev_share: float = DEV_SHARE) -> tuple[list[GoldQuestion], list[GoldQuestion]]:
    dev, test = [], []
    for qtype in sorted({g.type for g in questions}):
        group = sorted((g for g in questions if g.type == qtype), key=lambda g: g.id)
        random.Random(f"{seed}:{qtype}").shuffle(group)
        n_dev = round(dev_share * len(group))
        dev += group[:n_dev]
        test += group[n_dev:]
    return sorted(dev, key=lambda g: g.id), sorted(test, key=lambda g: g.id)


def dump(questions: list[GoldQuestion]) -> str:
    return "".join(json.dumps(g.to_json(), ensure_ascii=False) + "\n" for g in questions)


def make_split(name: str, source: Path) -> tuple[list[GoldQuestion], list[GoldQuestion], dict]:
    """Dev questions, test questions and the split log for the blind file ``source``; writes nothing."""
    config = SPLITS[name]
    questions, unparsed = read_blind(source)
    kept, repairs, dropped = check(config, questions)
    repeats = seen_before(kept, load_gold(FIRST_GOLD_SET))
    dev_blind, test = stratified_split([g for g in kept if g.id not in repeats])
    dev_blind = sorted(dev_blind + [g for g in kept if g.id in repeats], key=lambda g: g.id)
    extra = [g for path in config["dev_extra"] for g in load_gold(path)]
    dev = extra + dev_blind
    log = {
        "name": name, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "source": f"eval/blind/{source.name}", "seed": SEED, "dev_share": DEV_SHARE,
        "check": config["check"], "lines_read": len(questions) + len(unparsed), "kept": len(kept),
        "repairs": repairs, "dropped": unparsed + dropped, "leak_similarity": LEAK_SIMILARITY,
        "to_dev_as_repeats_of_the_first_gold_set": repeats,
        "dev": {"file": str(config["dev"].relative_to(ROOT)), "n": len(dev), "from_first_gold_set": len(extra),
                "types": dict(sorted(Counter(g.type for g in dev).items()))},
        "test": {"file": str(config["test"].relative_to(ROOT)), "n": len(test),
                 "types": dict(sorted(Counter(g.type for g in test).items()))},
    }
    return dev, test, log


def make_extra_dev(name: str, source: Path) -> tuple[list[GoldQuestion], dict]:
    """A later blind batch's dev questions and log: checked like the first, near-repeats of a test question dropped."""
    config = {**SPLITS[name], "check": "passages"}  # the parser reads every library layout now: check exactly
    questions, unparsed = read_blind(source)
    kept, repairs, dropped = check(config, questions)
    like_test = seen_before(kept, load_gold(config["test"]))
    dev = [g for g in kept if g.id not in like_test]
    log = {"name": f"{name}-extra-dev", "source": f"eval/blind/{source.name}", "check": config["check"],
           "lines_read": len(questions) + len(unparsed), "kept": len(kept), "repairs": repairs,
           "dropped": unparsed + dropped, "leak_similarity": LEAK_SIMILARITY,
           "dropped_as_repeats_of_a_test_question": like_test,
           "dev": {"file": str(config["second_batch_dev"].relative_to(ROOT)), "n": len(dev),
                   "types": dict(sorted(Counter(g.type for g in dev).items()))}}
    return dev, log


def extra_dev(name: str, source: Path, dry_run: bool = False) -> int:
    """A later blind batch, all to dev (its own file); near-repeats of a test question are dropped."""
    config = SPLITS[name]
    out = config["second_batch_dev"]
    dev, log = make_extra_dev(name, source)
    if dry_run:
        print(json.dumps(log, ensure_ascii=False, indent=1))
        return 0
    text = dump(dev)
    if out.exists() and out.read_text(encoding="utf-8") != text:
        print(f"error: {out} exists with other questions; nothing written", file=sys.stderr)
        return 2
    kept_copy = ROOT / "eval" / "blind" / source.name
    if source.resolve() != kept_copy.resolve():
        if kept_copy.exists() and kept_copy.read_bytes() != source.read_bytes():
            print(f"error: {kept_copy} holds another batch; rename {source.name}; nothing written", file=sys.stderr)
            return 2
        shutil.copy(source, kept_copy)
    out.write_text(text, encoding="utf-8")
    log = {**log, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    log_path = ROOT / "eval" / "splits" / f"{name}-extra-dev.json"
    log_path.write_text(json.dumps(log, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(log, ensure_ascii=False, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(SPLITS))
    parser.add_argument("--blind", type=Path, help="the blind question file (default: the staging copy)")
    parser.add_argument("--force", action="store_true", help="rewrite existing outputs only if identical")
    parser.add_argument("--no-staging", action="store_true", help="do not copy to /work/staging/questions")
    parser.add_argument("--dry-run", action="store_true", help="print what the split would be; write nothing")
    parser.add_argument("--extra-dev", type=Path, metavar="FILE",
                        help="a later blind batch: all to dev (eval/*dev-extra.jsonl), test unchanged")
    args = parser.parse_args(argv)
    if args.extra_dev:
        return extra_dev(args.name, args.extra_dev, args.dry_run)
    config = SPLITS[args.name]
    blind = args.blind or config["blind"]
    kept_copy = ROOT / "eval" / "blind" / blind.name
    source = kept_copy if kept_copy.is_file() and args.blind is None else blind
    dev, test, log = make_split(args.name, source)
    dev_text, test_text = dump(dev), dump(test)
    if args.dry_run:
        print(json.dumps(log, ensure_ascii=False, indent=1))
        return 0
    for path, text in ((config["dev"], dev_text), (config["test"], test_text)):
        if path.exists() and not (args.force and path.read_text(encoding="utf-8") == text):
            print(f"error: {path} exists and the split is done once"
                  f"{' (and --force found a difference)' if args.force else ''}; nothing written", file=sys.stderr)
            return 2
    kept_copy.parent.mkdir(parents=True, exist_ok=True)
    if source != kept_copy:
        shutil.copy(source, kept_copy)
    config["dev"].write_text(dev_text, encoding="utf-8")
    config["test"].write_text(test_text, encoding="utf-8")
    log_path = ROOT / "eval" / "splits" / f"{args.name}.json"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not log_path.exists() or not args.force:
        log_path.write_text(json.dumps(log, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if not args.no_staging:
        for key in ("dev", "test"):
            shutil.copy(config[key], config["staging"][key])
        config["ready"].touch()
    print(json.dumps(log, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
