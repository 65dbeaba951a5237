"""Evaluation arithmetic: ranking metrics, ratio metrics over question rows, bootstrap intervals, paired tests.

Every summary metric is a ratio of two sums over per-question rows (``Metric``): a mean over a subset
(hit@1 over single-answer questions: numerator hit@1, denominator 1 for those questions, 0 for the rest) or
a true ratio (abstention precision: correct abstentions / abstentions). That one shape gives the point
value, a percentile bootstrap interval (questions resampled with replacement, seeded), and a paired
comparison of two runs on the same questions (paired bootstrap interval of the difference and a two-sided
paired randomisation test that swaps the two runs' rows per question).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

KS = (1, 3, 5, 10)
BOOTSTRAP_SAMPLES = 2000
PERMUTATIONS = 5000
SEED = 20261129


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


@dataclass(frozen=True)
class Metric:
    """sum(numerator(row)) / sum(denominator(row)) over the rows of one run."""

    name: str
    numerator: Callable[[dict], float]
    denominator: Callable[[dict], float]
    count: bool = False  # report the numerator's sum (e.g. false abstentions), not the ratio

    def arrays(self, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        num = np.array([float(self.numerator(r)) for r in rows], dtype=np.float64)
        den = np.array([float(self.denominator(r)) for r in rows], dtype=np.float64)
        return num, den

    def value(self, rows: list[dict]) -> float | None:
        num, den = self.arrays(rows)
        if self.count:
            return int(num.sum()) if den.sum() else None
        return round(float(num.sum() / den.sum()), 4) if den.sum() else None


def _ratios(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return num[idx].sum(axis=1) / den[idx].sum(axis=1)


def bootstrap_interval(metric: Metric, rows: list[dict], samples: int = BOOTSTRAP_SAMPLES,
                       seed: int = SEED, level: float = 0.95) -> list[float] | None:
    """Percentile bootstrap interval of ``metric`` (questions resampled with replacement)."""
    num, den = metric.arrays(rows)
    if not len(rows) or not den.sum() or metric.count:
        return None
    idx = np.random.default_rng(seed).integers(0, len(rows), size=(samples, len(rows)))
    values = _ratios(num, den, idx)
    values = values[~np.isnan(values)]
    tail = (1 - level) / 2 * 100
    return [round(float(np.percentile(values, tail)), 4), round(float(np.percentile(values, 100 - tail)), 4)]


@dataclass
class PairedResult:
    metric: str
    n: int  # questions in both runs that the metric counts
    a: float | None
    b: float | None
    delta: float | None  # b - a
    interval: list[float] | None  # paired bootstrap 95 % interval of the difference
    p_value: float | None  # two-sided paired randomisation test
    wins: int  # questions where b is better than a on this metric
    losses: int


def paired_compare(metric: Metric, rows_a: list[dict], rows_b: list[dict], samples: int = BOOTSTRAP_SAMPLES,
                   permutations: int = PERMUTATIONS, seed: int = SEED) -> PairedResult:
    """Compare two runs over the same questions (``rows_a[i]`` and ``rows_b[i]`` are one question)."""
    if len(rows_a) != len(rows_b):
        raise ValueError("paired comparison needs the same questions in both runs")
    num_a, den_a = metric.arrays(rows_a)
    num_b, den_b = metric.arrays(rows_b)
    n = int(((den_a > 0) | (den_b > 0)).sum())
    a, b = metric.value(rows_a), metric.value(rows_b)
    per_a = np.divide(num_a, den_a, out=np.zeros_like(num_a), where=den_a > 0)
    per_b = np.divide(num_b, den_b, out=np.zeros_like(num_b), where=den_b > 0)
    both = (den_a > 0) & (den_b > 0)
    wins, losses = int(((per_b > per_a) & both).sum()), int(((per_b < per_a) & both).sum())
    if not n or a is None or b is None:
        return PairedResult(metric.name, n, a, b, None, None, None, wins, losses)

    def stat(na, da, nb, db):
        with np.errstate(invalid="ignore", divide="ignore"):
            if metric.count:
                return nb.sum(axis=-1) - na.sum(axis=-1)
            return nb.sum(axis=-1) / db.sum(axis=-1) - na.sum(axis=-1) / da.sum(axis=-1)

    observed = float(stat(num_a, den_a, num_b, den_b))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows_a), size=(samples, len(rows_a)))
    boot = stat(num_a[idx], den_a[idx], num_b[idx], den_b[idx])
    boot = boot[~np.isnan(boot)]
    interval = [round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)]
    swap = rng.random((permutations, len(rows_a))) < 0.5
    pa_num, pb_num = np.where(swap, num_b, num_a), np.where(swap, num_a, num_b)
    pa_den, pb_den = np.where(swap, den_b, den_a), np.where(swap, den_a, den_b)
    perm = stat(pa_num, pa_den, pb_num, pb_den)
    perm = perm[~np.isnan(perm)]
    extreme = int((np.abs(perm) >= abs(observed) - 1e-12).sum())
    p_value = round((extreme + 1) / (len(perm) + 1), 4)
    delta = int(round(observed)) if metric.count else round(observed, 4)
    return PairedResult(metric.name, n, a, b, delta, interval, p_value, wins, losses)
