"""The seeded bootstrap interval of a run's mean Dice: right statistic, right draws, deterministic."""

import numpy as np
import pytest

from segbook.report import bootstrap
from tests.report_runs import per_case_metrics

pytestmark = pytest.mark.unit


def _matrix(seed=0, n=12, c=3, missing=0.1):
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.5, 0.95, size=(n, c))
    values[rng.random((n, c)) < missing] = np.nan
    return values


def test_statistic_is_the_receipts_mean_dice():
    values = _matrix()
    metrics = per_case_metrics(values, ["a", "b", "c"])
    assert bootstrap.mean_dice(bootstrap.case_dice_matrix(metrics)) == pytest.approx(metrics["summary"]["mean_dice"])
    # rows are the cases in sorted order, columns the labels in receipt order
    assert np.allclose(bootstrap.case_dice_matrix(metrics), values, equal_nan=True)


@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_vectorised_resamples_equal_a_plain_loop_over_the_same_draws(missing):
    values = _matrix(seed=3, n=9, c=4, missing=missing)
    fast = bootstrap.resampled_means(values, np.random.Generator(np.random.PCG64(7)), 200)
    draws = bootstrap.draw_cases(np.random.Generator(np.random.PCG64(7)), len(values), 200)
    slow = [bootstrap.mean_dice(values[rows]) for rows in draws]
    assert np.allclose(fast, slow, equal_nan=True)


def test_interval_is_seeded_per_cell_and_independent_of_other_cells():
    a, b = _matrix(1), _matrix(2)
    together = bootstrap.intervals_for([("T1", "x", a), ("T2", "y", b)])
    alone = bootstrap.intervals_for([("T2", "y", b)])
    assert together[("T2", "y")] == alone[("T2", "y")]  # same stream whatever else is in the report
    again = bootstrap.intervals_for([("T1", "x", a), ("T2", "y", b)])
    assert together == again
    other_name = bootstrap.bootstrap_interval(a, "T1/z")
    assert other_name != together[("T1", "x")]  # each cell has its own stream


def test_interval_brackets_the_mean_with_the_expected_width():
    rng = np.random.default_rng(11)
    values = rng.normal(0.8, 0.05, size=(100, 1))
    interval = bootstrap.bootstrap_interval(values, "wide/cell")
    mean = 100 * values.mean()
    assert interval.low < mean < interval.high and interval.n_cases == 100
    expected = 2 * 1.96 * 100 * values.std(ddof=1) / np.sqrt(100)  # normal approximation
    assert (interval.high - interval.low) == pytest.approx(expected, rel=0.2)


def test_degenerate_cells():
    one = bootstrap.bootstrap_interval(np.array([[0.7, 0.9]]), "one/case")
    assert one.low == one.high == pytest.approx(80.0) and one.n_cases == 1
    empty = bootstrap.bootstrap_interval(bootstrap.case_dice_matrix({"summary": {}}), "no/cases")
    assert np.isnan(empty.low) and np.isnan(empty.high) and empty.n_cases == 0
    undefined = bootstrap.bootstrap_interval(np.full((4, 2), np.nan), "all/nan")
    assert np.isnan(undefined.low)
