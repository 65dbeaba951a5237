"""The shipped answerability model is what `qa train-abstain` fits on eval/dev.jsonl today (real model)."""

import hashlib
import math

import pytest

from qa.abstain import FEATURES, shipped_policy, train
from qa.abstain_eval import feature_rows, read_questions
from qa.config import PROJECT_ROOT

DEV = PROJECT_ROOT / "eval" / "dev.jsonl"


@pytest.fixture(scope="module")
def dev_rows(qa):
    return feature_rows(qa, read_questions(DEV))


def test_features_are_finite_and_complete(dev_rows):
    for row in dev_rows:
        assert set(FEATURES) <= set(row)
        assert all(math.isfinite(row[f]) for f in FEATURES), row["q"]


def test_shipped_model_is_reproduced_from_dev(dev_rows):
    shipped = shipped_policy()
    files = {f["file"]: f["sha256"] for f in shipped.trained_on["files"]}
    assert files == {"dev.jsonl": hashlib.sha256(DEV.read_bytes()).hexdigest()}, \
        "eval/dev.jsonl changed: refit with `python -m qa train-abstain --questions eval/dev.jsonl`"
    refit, _ = train(dev_rows)
    assert refit.features == shipped.features and refit.validation["C"] == shipped.validation["C"]
    assert refit.coef == pytest.approx(shipped.coef, abs=1e-3)
    assert refit.cutoff == pytest.approx(shipped.cutoff, abs=1e-3)
