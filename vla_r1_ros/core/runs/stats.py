"""Statistics across runs: per-condition means with 95 % intervals, and condition comparisons (scipy).

Rows are plain mappings, one per run, holding at least ``condition``, ``task`` and the metrics.
Missing values (None or NaN: a run without events has no phase split) are left out per metric,
and the counts say how many runs each number rests on.

Comparison of two conditions on one metric:
- paired when at least ``min_pairs`` tasks were run in both conditions: each condition's runs of
  a task are averaged, and the per-task pairs go to the Wilcoxon signed-rank test (two-sided);
  tasks run in one condition only are left out of it;
- unpaired otherwise: all runs of the two conditions go to the Mann-Whitney U test (two-sided).
Both are rank tests: no normality assumed, sound for the small samples of a lab study.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["MeanCI", "mean_ci", "Proportion", "proportion_ci", "Comparison", "compare_conditions"]


def _finite(values: Iterable[Any]) -> np.ndarray:
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return np.asarray(kept, dtype=np.float64)


@dataclass(frozen=True)
class MeanCI:
    """Mean, sample standard deviation and the t-based confidence interval of the mean (NaN below 2 values)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    confidence: float = 0.95


def mean_ci(values: Iterable[Any], confidence: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval of the finite values (None and NaN skipped)."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return MeanCI(0, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = float(np.mean(x))
    if n < 2:
        return MeanCI(1, mean, math.nan, math.nan, math.nan, confidence)
    sd = float(np.std(x, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * sd / math.sqrt(n)
    return MeanCI(n, mean, sd, mean - half, mean + half, confidence)


@dataclass(frozen=True)
class Proportion:
    """Successes out of trials with the Wilson score interval (sound near 0 and 1)."""

    successes: int
    trials: int
    rate: float
    low: float
    high: float


def proportion_ci(successes: int, trials: int, confidence: float = 0.95) -> Proportion:
    """Success rate and its Wilson interval (all NaN without trials)."""
    if trials <= 0:
        return Proportion(0, 0, math.nan, math.nan, math.nan)
    interval = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return Proportion(successes, trials, successes / trials, float(interval.low), float(interval.high))


@dataclass(frozen=True)
class Comparison:
    """One metric compared between conditions ``a`` and ``b``.

    ``test``: "wilcoxon" (paired by task), "mannwhitneyu" (unpaired) or "none" (too little data);
    ``pairs``: tasks in the paired test; ``median_a``/``median_b``: medians of what was tested
    (per-task means when paired, runs otherwise).
    """

    metric: str
    a: str
    b: str
    test: str
    n_a: int
    n_b: int
    pairs: int
    statistic: float
    p_value: float
    median_a: float
    median_b: float


def _values(rows: Sequence[Mapping[str, Any]], metric: str, condition: str) -> list[tuple[str, float]]:
    out = []
    for row in rows:
        value = row.get(metric)
        if row.get("condition") != condition or value is None:
            continue
        value = float(value)
        if math.isfinite(value):
            out.append((str(row.get("task") or ""), value))
    return out


def _median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else math.nan


def compare_conditions(
    rows: Sequence[Mapping[str, Any]], metric: str, a: str, b: str, min_pairs: int = 2
) -> Comparison:
    """Compare ``metric`` between conditions ``a`` and ``b`` as the module docstring says."""
    values_a, values_b = _values(rows, metric, a), _values(rows, metric, b)
    by_task_a: dict[str, list[float]] = {}
    by_task_b: dict[str, list[float]] = {}
    for task, value in values_a:
        by_task_a.setdefault(task, []).append(value)
    for task, value in values_b:
        by_task_b.setdefault(task, []).append(value)
    shared = sorted(t for t in by_task_a.keys() & by_task_b.keys() if t)
    if len(shared) >= min_pairs:
        mean_a = [float(np.mean(by_task_a[t])) for t in shared]
        mean_b = [float(np.mean(by_task_b[t])) for t in shared]
        with warnings.catch_warnings():  # all-equal pairs: scipy warns and answers p = 1
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.wilcoxon(mean_a, mean_b, alternative="two-sided")
        return Comparison(
            metric, a, b, "wilcoxon", len(values_a), len(values_b), len(shared),
            float(result.statistic), float(result.pvalue), _median(mean_a), _median(mean_b),
        )  # fmt: skip
    plain_a, plain_b = [v for _, v in values_a], [v for _, v in values_b]
    if plain_a and plain_b:
        result = stats.mannwhitneyu(plain_a, plain_b, alternative="two-sided")
        return Comparison(
            metric, a, b, "mannwhitneyu", len(plain_a), len(plain_b), 0,
            float(result.statistic), float(result.pvalue), _median(plain_a), _median(plain_b),
        )  # fmt: skip
    return Comparison(
        metric, a, b, "none", len(plain_a), len(plain_b), 0, math.nan, math.nan, _median(plain_a), _median(plain_b)
    )
