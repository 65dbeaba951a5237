"""The shipped answerability model is what `qa train-abstain` fits today (real model): eval/dev.jsonl and
eval/dev-extra.jsonl judged against the shipped report's index, eval/library-dev.jsonl and
eval/library-dev-extra.jsonl against an index of corpus/ + eval/library/, and the reader's dev questions
(data/reader/eval/reader-dev.jsonl) against corpus/ + data/reader/reports/dev/."""

import hashlib
import math
import shutil

import pytest

from conftest import build_library
from qa.answer.abstain import FEATURES, shipped_policy, train
from qa.config import PROJECT_ROOT
from qa.evaluation.abstain_eval import EXTRA, LIBRARY, SHIPPED, feature_rows, read_questions

EVAL = PROJECT_ROOT / "eval"
DEV = [EVAL / "dev.jsonl", EVAL / "dev-extra.jsonl"]
LIBRARY_DEV = [EVAL / "library-dev.jsonl", EVAL / "library-dev-extra.jsonl"]
LIBRARY_DIR = EVAL / "library"
READER_DEV_DIR = "data/reader/reports/dev"
READER_DEV = [PROJECT_ROOT / "data" / "reader" / "eval" / "reader-dev.jsonl"]
REFIT = ("python -m qa train-abstain --questions eval/dev.jsonl eval/dev-extra.jsonl "
         "--library-questions eval/library-dev.jsonl eval/library-dev-extra.jsonl --library eval/library "
         f"--extra-library {READER_DEV_DIR} data/reader/eval/reader-dev.jsonl")


@pytest.fixture(scope="module")
def reader_dev_qa(tmp_path_factory, model_dir, cached_encoder):
    from qa.pipeline import ReportQA

    root = tmp_path_factory.mktemp("reader-dev")
    shutil.copytree(PROJECT_ROOT / "corpus", root / "corpus")
    for path in (PROJECT_ROOT / READER_DEV_DIR).iterdir():
        shutil.copy(path, root / "corpus" / path.name)
    return ReportQA(build_library(root / "corpus", root / "index", model_dir, cached_encoder),
                    encoder="sentence-transformers")


@pytest.fixture(scope="module")
def dev_rows(qa, library_qa, reader_dev_qa):
    """Each question's features against its own index, in the order `train-abstain` reads them."""
    return ([{"corpus": SHIPPED, **r} for path in DEV for r in feature_rows(qa, read_questions(path))]
            + [{"corpus": LIBRARY, **r} for path in LIBRARY_DEV for r in feature_rows(library_qa, read_questions(path))]
            + [{"corpus": EXTRA + READER_DEV_DIR, **r} for path in READER_DEV
               for r in feature_rows(reader_dev_qa, read_questions(path))])


def test_features_are_finite_and_complete(dev_rows):
    for row in dev_rows:
        assert set(FEATURES) <= set(row)
        assert all(math.isfinite(row[f]) for f in FEATURES), row["q"]


def test_shipped_model_is_reproduced_from_dev(dev_rows):
    shipped = shipped_policy()
    files = {f["file"]: (f["sha256"], f["corpus"]) for f in shipped.trained_on["files"]}
    assert files == {**{p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), SHIPPED) for p in DEV},
                     **{p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), LIBRARY) for p in LIBRARY_DEV},
                     **{p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), EXTRA + READER_DEV_DIR)
                        for p in READER_DEV}}, f"a dev file changed: refit with `{REFIT}`"
    extra = {f["file"]: f["sha256"] for f in shipped.trained_on["extra_libraries"][READER_DEV_DIR]}
    assert extra == {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in (PROJECT_ROOT / READER_DEV_DIR).iterdir()}, f"{READER_DEV_DIR} changed: refit with `{REFIT}`"
    reports = {f["file"]: f["sha256"] for f in shipped.trained_on["library"]}
    assert reports == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in LIBRARY_DIR.iterdir()}, \
        f"eval/library changed: refit with `{REFIT}`"
    refit, _ = train(dev_rows)
    assert refit.features == shipped.features and refit.validation["C"] == shipped.validation["C"]
    assert refit.coef == pytest.approx(shipped.coef, abs=1e-3)
    assert refit.cutoff == pytest.approx(shipped.cutoff, abs=1e-3)
    assert refit.trained_on["n_unanswerable"] == shipped.trained_on["n_unanswerable"]
    assert refit.trained_on["n"] == len(dev_rows) and shipped.trained_on["n_unanswerable"] >= 100
