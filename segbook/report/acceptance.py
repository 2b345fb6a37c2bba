"""Per-cell acceptance: does our run reproduce the paper's value for that dataset x configuration?

Two tests per cell (dataset x configuration), both shown in every table and plot:
  interval   the paper's DSC lies inside our seeded 95 % bootstrap interval of the mean Dice over
             the run's test cases (segbook.report.bootstrap);
  tolerance  |ours - paper| <= the fixed tolerance in DSC points (--tolerance, default 2).
A cell's `acceptance` is the first that holds: "interval", "tolerance", else "neither" ("no paper
value" for STU-Net-S and user datasets). The acceptance rule in force (--accept) says which of the
two counts as "reproduces": `either` (default), `interval` or `tolerance`. A cell whose receipt
does not verify never reproduces.
"""

from __future__ import annotations

import math

from segbook.report.verification import UNVERIFIED

IN_INTERVAL, IN_TOLERANCE, NEITHER, NO_PAPER = "interval", "tolerance", "neither", "no paper value"
ACCEPTANCE_ORDER = (IN_INTERVAL, IN_TOLERANCE, NEITHER, NO_PAPER)
RULES = {
    "either": "the paper's value is inside our 95 % bootstrap interval or within ±{tol:g} DSC points",
    "interval": "the paper's value is inside our 95 % bootstrap interval",
    "tolerance": "our DSC is within ±{tol:g} DSC points of the paper's",
}
DEFAULT_RULE = "either"
ACCEPTANCE_COLUMNS = ["ci_low", "ci_high", "paper_in_ci", "within", "acceptance", "reproduces", "verified"]


def describe_rule(rule: str, tolerance: float) -> str:
    return RULES[rule].format(tol=tolerance)


def _flag(value: bool | None):
    return None if value is None else bool(value)


def classify(dsc: float, paper: float, low: float, high: float, tolerance: float) -> tuple:
    """(paper_in_ci, within, acceptance) of one cell; None flags where a test cannot be made."""
    if paper is None or math.isnan(paper) or math.isnan(dsc):
        return None, None, NO_PAPER
    in_ci = None if math.isnan(low) else bool(low <= paper <= high)
    within = bool(abs(dsc - paper) <= tolerance)
    if in_ci:
        return in_ci, within, IN_INTERVAL
    return in_ci, within, IN_TOLERANCE if within else NEITHER


def reproduces(paper_in_ci, within, rule: str, verified: str):
    """Does the cell count as reproduced under `rule`? None when there is no paper value."""
    if within is None:
        return None
    if verified == UNVERIFIED:
        return False
    if rule == "interval":
        return bool(paper_in_ci)
    if rule == "tolerance":
        return bool(within)
    return bool(paper_in_ci) or bool(within)


def add_acceptance(table, intervals: dict, verification: dict, tolerance: float, rule: str):
    """Columns ci_low/ci_high (DSC %), paper_in_ci, within, acceptance, reproduces, verified.

    `table` is tables.comparison's frame plus a `receipt` column; `intervals` maps (task_id,
    configuration) to a bootstrap.Interval; `verification` maps a receipt path to a Verification.
    """
    if rule not in RULES:
        raise ValueError(f"unknown acceptance rule {rule!r}")
    table = table.copy()
    rows: dict[str, list[object]] = {name: [] for name in ACCEPTANCE_COLUMNS}
    for row in table.to_dict("records"):
        interval = intervals.get((row["task_id"], row["configuration"]))
        low, high = (interval.low, interval.high) if interval else (float("nan"), float("nan"))
        in_ci, within, acceptance = classify(row["dsc"], row["dsc_paper"], low, high, tolerance)
        status = verification[row["receipt"]].status
        for name, value in zip(ACCEPTANCE_COLUMNS, (low, high, _flag(in_ci), _flag(within), acceptance,
                                                    reproduces(in_ci, within, rule, status), status),
                               strict=True):
            rows[name].append(value)
    for name, values in rows.items():
        table[name] = values
    return table


def counts(table) -> dict:
    """How many cells were run, have a paper value, reproduce, and fall in each acceptance class."""
    paired = table[table["acceptance"] != NO_PAPER]
    out = {"cells": len(table), "with_paper": len(paired),
           "reproduce": int(paired["reproduces"].fillna(False).astype(bool).sum()),
           "unverified": int((table["verified"] == UNVERIFIED).sum())}
    out.update({name: int((table["acceptance"] == name).sum()) for name in ACCEPTANCE_ORDER})
    return out
