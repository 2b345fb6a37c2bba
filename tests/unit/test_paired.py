"""Paired per-case comparisons (segbook/report/paired.py): the statistics against scipy on fixed data,
the verdicts, and what `segbook report` writes from them (per_case.csv, comparisons.csv, the forest
plot before the big table)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from segbook.report import build_report, paired
from segbook.report.bootstrap import mean_interval
from tests.unit.test_report_receipts import write_receipt

pytestmark = pytest.mark.unit

# fixed paired differences (DSC points) of 14 cases: mostly positive, one tie at zero
DIFFS = np.array([2.1, 3.4, -0.7, 1.9, 4.2, 0.0, 2.8, 1.1, -1.5, 3.9, 2.2, 0.6, 5.1, 1.7])


def test_the_wilcoxon_p_value_is_scipys():
    assert paired.wilcoxon_p(DIFFS) == pytest.approx(stats.wilcoxon(DIFFS, alternative="two-sided").pvalue,
                                                     rel=1e-12)
    assert paired.wilcoxon_p(DIFFS) < 0.01


def test_no_p_value_below_the_smallest_testable_n_and_one_when_nothing_differs():
    # with 5 cases the exact two-sided test cannot go below 2/2**5: that is why MIN_CASES is 6
    assert stats.wilcoxon(np.arange(1.0, 6.0)).pvalue == pytest.approx(0.0625)
    assert stats.wilcoxon(np.arange(1.0, 7.0)).pvalue < 0.05
    assert math.isnan(paired.wilcoxon_p(DIFFS[:5]))
    assert paired.wilcoxon_p(np.zeros(8)) == 1.0


def test_holm_step_down_by_hand():
    adjusted = paired.holm([0.01, 0.04, 0.03, 0.005, float("nan")])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4])  # not tested, not counted in the family (m = 4)
    assert paired.holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone


def test_the_paired_interval_agrees_with_scipys_percentile_bootstrap():
    ours = mean_interval(DIFFS, "Task/x vs y")
    theirs = stats.bootstrap((DIFFS,), np.mean, n_resamples=20000, method="percentile", confidence_level=0.95,
                             rng=np.random.default_rng(0)).confidence_interval
    assert ours[0] < DIFFS.mean() < ours[1]
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.25)  # 1,000 vs 20,000 resamples
    assert mean_interval(DIFFS, "Task/x vs y") == ours  # seeded: a rebuilt report is identical


def _rows(task, config, scores, *, cases=None):
    names = cases or [f"case_{i:02d}" for i in range(len(scores))]
    return [{"task_id": task, "configuration": config, "fold": "all", "case": c, "class": "organ", "dice": s,
             "nsd": s, "hd95": 1.0} for c, s in zip(names, scores, strict=True)]


def test_verdicts_follow_the_adjusted_p_and_the_interval():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.6, 0.8, 12)
    per_case = {
        ("A", "stunet-b_scratch"): _rows("A", "stunet-b_scratch", base),
        ("A", "stunet-b_ft"): _rows("A", "stunet-b_ft", base + 0.05 + rng.normal(0, 0.005, 12)),
        ("B", "stunet-b_scratch"): _rows("B", "stunet-b_scratch", base),
        ("B", "stunet-b_ft"): _rows("B", "stunet-b_ft", base + rng.normal(0, 0.02, 12)),
        ("C", "stunet-b_scratch"): _rows("C", "stunet-b_scratch", base[:3]),
        ("C", "stunet-b_ft"): _rows("C", "stunet-b_ft", base[:3] - 0.2),
    }
    rows = {r["task_id"]: r for r in paired.compare(per_case)}
    assert rows["A"]["verdict"] == "stunet-b_ft better" and rows["A"]["diff_a_minus_b"] == pytest.approx(5, abs=0.5)
    assert rows["B"]["verdict"] == paired.NO_DIFFERENCE
    assert rows["C"]["verdict"].startswith(paired.TOO_FEW) and math.isnan(rows["C"]["p_wilcoxon"])
    # Holm over the two tested datasets of this pair: the smaller p doubled
    ps = sorted([rows["A"]["p_wilcoxon"], rows["B"]["p_wilcoxon"]])
    assert rows["A"]["p_holm"] == pytest.approx(min(1.0, 2 * ps[0]))


def test_only_cases_both_runs_have_are_paired_and_undefined_classes_are_left_out():
    a = _rows("T", "stunet-s_ft", [0.9, 0.8, float("nan")], cases=["c1", "c2", "c3"])
    b = _rows("T", "stunet-s_scratch", [0.7, 0.6, 0.5, 0.4], cases=["c1", "c2", "c3", "c4"])
    (row,) = paired.compare({("T", "stunet-s_ft"): a, ("T", "stunet-s_scratch"): b})
    assert row["n_cases"] == 2 and row["diff_a_minus_b"] == pytest.approx(20.0)
    assert (row["mean_a"], row["mean_b"]) == pytest.approx((85.0, 65.0))


def test_the_pairs_are_the_papers():
    present = ["nnunet", "stunet-b_ft", "stunet-b_scratch", "stunet-l_ft"]
    assert paired.paper_pairs(present) == [("stunet-b_ft", "stunet-b_scratch"), ("stunet-b_ft", "nnunet"),
                                           ("stunet-b_scratch", "nnunet"), ("stunet-l_ft", "nnunet")]


def test_the_report_writes_per_case_and_comparisons_and_shows_the_forest_first(tmp_path):
    from segbook.evaluate import evaluate_folder  # noqa: PLC0415
    from tests.unit.test_report_receipts import _volumes  # noqa: PLC0415

    metrics = {}
    for erosion in (0, 1):
        pred, ref = _volumes(tmp_path / f"e{erosion}", erosion, seed=erosion)
        metrics[erosion] = evaluate_folder(pred, ref, {1: "organ"}).to_dict()
    out = tmp_path / "out"
    write_receipt(out, "Task009_Spleen", "stunet-b_ft", metrics[0])
    write_receipt(out, "Task009_Spleen", "stunet-b_scratch", metrics[1])
    build_report(tmp_path / "report", out_root=out)
    per_case = pd.read_csv(tmp_path / "report" / "per_case.csv")
    assert list(per_case.columns) == paired.PER_CASE_COLUMNS and len(per_case) == 4  # 2 runs x 2 cases x 1 class
    comparisons = pd.read_csv(tmp_path / "report" / "comparisons.csv")
    assert list(comparisons.columns) == paired.COMPARISON_COLUMNS
    (row,) = comparisons.to_dict("records")
    assert (row["config_a"], row["config_b"], row["n_cases"]) == ("stunet-b_ft", "stunet-b_scratch", 2)
    assert row["verdict"] == "too few cases (n=2 < 6)" and math.isnan(row["p_wilcoxon"])
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.index('id="forest"') < html.index("Per dataset and configuration")
    assert "no test can reach p &lt; 0.05" in html or "no test can reach p < 0.05" in html
