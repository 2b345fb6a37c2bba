"""Per-case results and paired comparisons between configurations on one dataset (docs/report.md).

For a dataset and a pair of configurations (A, B) the unit is the test case both runs predicted:
its score is its Dice averaged over the foreground classes defined in it, and the paired
difference is A - B in DSC points. Over those n cases the report gives the mean difference, a
seeded percentile bootstrap interval of it (cases drawn with replacement, pairs kept together), the
two-sided Wilcoxon signed-rank p-value (scipy.stats.wilcoxon), and the p-value adjusted by Holm's
step-down method over the datasets of the same pair. scipy has no Holm adjustment and statsmodels
is not a dependency of the kit, so it is the few lines of `holm` below.

A verdict of "better" or "worse" needs the Holm-adjusted p below ALPHA and an interval on the same
side of zero. Below MIN_CASES paired cases no test can reach ALPHA at all (the exact two-sided
Wilcoxon p-value is at least 2 / 2**n, 0.0625 for n = 5), so those rows say "too few cases" and
carry no p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from segbook.report.bootstrap import BOOTSTRAP_RESAMPLES, mean_interval

ALPHA = 0.05
MIN_CASES = 6  # the smallest n at which the exact two-sided Wilcoxon test can reach p < 0.05
TOO_FEW = "too few cases"
NO_DIFFERENCE = "no detectable difference"
PER_CASE_COLUMNS = ["task_id", "configuration", "fold", "case", "class", "dice", "nsd", "hd95"]
COMPARISON_COLUMNS = ["task_id", "config_a", "config_b", "n_cases", "mean_a", "mean_b", "diff_a_minus_b",
                      "ci_low", "ci_high", "p_wilcoxon", "p_holm", "verdict"]


def per_case_rows(task_id: str, configuration: str, fold, metrics: dict | None) -> list[dict]:
    """A receipt's per-case metrics in long form (PER_CASE_COLUMNS), Dice and NSD in 0-1, HD95 in mm."""
    metrics = metrics or {}
    labels = metrics.get("labels") or {}
    rows = []
    for case in sorted(metrics.get("per_case") or {}):
        for label, values in sorted((metrics["per_case"][case] or {}).items()):
            values = values if isinstance(values, dict) else {}
            rows.append({"task_id": task_id, "configuration": configuration, "fold": fold, "case": case,
                         "class": labels.get(label, label), "dice": _number(values.get("dice")),
                         "nsd": _number(values.get("nsd")), "hd95": _number(values.get("hd95"))})
    return rows


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def case_scores(rows: list[dict]) -> dict[str, float]:
    """Case -> its Dice (0-1) averaged over the classes defined in it (NaN classes left out)."""
    by_case: dict[str, list[float]] = {}
    for row in rows:
        by_case.setdefault(row["case"], []).append(row["dice"])
    scores = {}
    for case, values in by_case.items():
        defined = [v for v in values if not math.isnan(v)]
        if defined:
            scores[case] = sum(defined) / len(defined)
    return scores


def paper_pairs(configurations) -> list[tuple[str, str]]:
    """The pairs the paper compares, among `configurations`: each STU-Net scale fine-tuned vs the same
    scale from scratch, then each configuration vs default nnU-Net."""
    present = set(configurations)
    pairs = [(f"stunet-{s}_ft", f"stunet-{s}_scratch") for s in "sblh"
             if {f"stunet-{s}_ft", f"stunet-{s}_scratch"} <= present]
    if "nnunet" in present:
        pairs += [(c, "nnunet") for c in sorted(present - {"nnunet"})]
    return pairs


def wilcoxon_p(diffs: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value (scipy's exact method where it applies); 1.0 when every
    difference is zero (nothing to rank), NaN below MIN_CASES."""
    from scipy.stats import wilcoxon  # noqa: PLC0415 - scipy only when a comparison is made

    if diffs.size < MIN_CASES:
        return float("nan")
    if not np.any(diffs):
        return 1.0
    return float(wilcoxon(diffs, alternative="two-sided").pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment; NaN entries stay NaN and do not count in the family."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(order)
    adjusted = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def verdict(n: int, p_adjusted: float, low: float, high: float, a: str, b: str) -> str:
    if n < MIN_CASES:
        return f"{TOO_FEW} (n={n} < {MIN_CASES})"
    if not math.isnan(p_adjusted) and p_adjusted < ALPHA:
        if low > 0:
            return f"{a} better"
        if high < 0:
            return f"{a} worse"
    return NO_DIFFERENCE


@dataclass(frozen=True)
class _Pair:
    task_id: str
    a: str
    b: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    p: float


def compare(per_case: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """(task_id, configuration) -> its per-case rows  ->  one COMPARISON_COLUMNS row per dataset and pair,
    Holm-adjusted over the datasets of each pair."""
    found: list[_Pair] = []
    for task_id in sorted({t for t, _ in per_case}):
        configs = [c for t, c in per_case if t == task_id]
        for a, b in paper_pairs(configs):
            score_a, score_b = case_scores(per_case[(task_id, a)]), case_scores(per_case[(task_id, b)])
            both = sorted(set(score_a) & set(score_b))
            diffs = 100.0 * np.array([score_a[c] - score_b[c] for c in both], dtype=float)
            low, high = mean_interval(diffs, f"{task_id}/{a} vs {b}")
            mean = float(diffs.mean()) if diffs.size else float("nan")
            found.append(_Pair(task_id, a, b, len(both), _mean_percent(score_a, both), _mean_percent(score_b, both),
                               mean, low, high, wilcoxon_p(diffs)))
    adjusted: dict[int, float] = {}
    for pair in {(f.a, f.b) for f in found}:
        members = [i for i, f in enumerate(found) if (f.a, f.b) == pair]
        adjusted.update(zip(members, holm([found[i].p for i in members]), strict=True))
    return [{"task_id": f.task_id, "config_a": f.a, "config_b": f.b, "n_cases": f.n, "mean_a": f.mean_a,
             "mean_b": f.mean_b, "diff_a_minus_b": f.diff, "ci_low": f.low, "ci_high": f.high, "p_wilcoxon": f.p,
             "p_holm": adjusted[i], "verdict": verdict(f.n, adjusted[i], f.low, f.high, f.a, f.b)}
            for i, f in enumerate(found)]


def _mean_percent(scores: dict[str, float], cases: list[str]) -> float:
    return 100.0 * sum(scores[c] for c in cases) / len(cases) if cases else float("nan")


def case_tables(per_case: dict[tuple[str, str], list[dict]]):
    """per_case.csv and comparisons.csv as DataFrames, from (task_id, configuration) -> per-case rows."""
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    long = pd.DataFrame([row for key in sorted(per_case) for row in per_case[key]], columns=PER_CASE_COLUMNS)
    return long, pd.DataFrame(compare(per_case), columns=COMPARISON_COLUMNS)


def describe_method() -> str:
    return (f"A − B over the test cases both runs predicted (a case's Dice: the mean over its defined classes), "
            f"DSC points; 95 % CI: seeded paired bootstrap ({BOOTSTRAP_RESAMPLES} resamples); p: two-sided "
            f"Wilcoxon signed-rank, Holm-adjusted over the datasets of each pair; better/worse needs adjusted "
            f"p < {ALPHA:g} and a CI on that side of 0. Below {MIN_CASES} cases no test can reach p < {ALPHA:g}: "
            "those rows say so and give no p-value.")
