"""Per-cell acceptance in `segbook report`: interval / tolerance / neither, verification, determinism."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from segbook.catalog import load_catalog
from segbook.cli.main import main as cli_main
from segbook.report import build_report
from segbook.report.acceptance import classify, reproduces
from tests.report_runs import dice_around, tamper_prediction, write_grid, write_run

pytestmark = pytest.mark.unit

NAN = float("nan")


@pytest.mark.parametrize("dsc, paper, low, high, expected", [
    (80.0, 80.5, 79.0, 81.0, (True, True, "interval")),
    (80.0, 81.5, 79.5, 80.5, (False, True, "tolerance")),  # outside a narrow CI, within 2 points
    (80.0, 83.0, 78.0, 84.0, (True, False, "interval")),  # a wide CI holds it although 3 points off
    (80.0, 85.0, 79.0, 81.0, (False, False, "neither")),
    (80.0, NAN, 79.0, 81.0, (None, None, "no paper value")),
    (80.0, 81.0, NAN, NAN, (None, True, "tolerance")),  # no per-case metrics: tolerance only
])
def test_classify(dsc, paper, low, high, expected):
    assert classify(dsc, paper, low, high, 2.0) == expected


def test_rules_and_unverified_cells():
    assert reproduces(True, False, "either", "verified") and not reproduces(True, False, "tolerance", "verified")
    assert reproduces(False, True, "tolerance", "not checked") and not reproduces(False, True, "interval", "x")
    assert reproduces(True, True, "either", "UNVERIFIED") is False  # a failed receipt never reproduces
    assert reproduces(None, None, "either", "verified") is None


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Four datasets x two configurations of verifiable run folders; one receipt tampered with."""
    out = tmp_path_factory.mktemp("grid")
    catalog = load_catalog()
    ids = ["Task009_Spleen", "Task002_Heart", "Task006_Lung", "Task013_ACDC"]
    receipts = write_grid(out, catalog, ids, ["stunet-b_scratch", "stunet-b_ft"], n_cases=10)
    write_run(out, "Task990_MyOrgans", "stunet-s_ft", dice_around(80, 2, 2, 3.0, 5), seed=5)
    tamper_prediction(receipts[3])  # Task002_Heart / stunet-b_ft
    return out


def test_report_marks_each_cell_and_the_unverified_one(grid, tmp_path):
    outcome = build_report(tmp_path / "r", out_root=grid, verify=True)
    table = pd.read_csv(tmp_path / "r" / "comparison.csv")
    assert len(table) == 9
    heart = table[(table.task_id == "Task002_Heart") & (table.configuration == "stunet-b_ft")].iloc[0]
    assert heart.verified == "UNVERIFIED" and not heart.reproduces
    others = table[~((table.task_id == "Task002_Heart") & (table.configuration == "stunet-b_ft"))]
    assert set(others.verified) == {"verified"}
    assert "receipt FAILED verification: Task002_Heart / stunet-b_ft" in outcome.warnings[0]
    assert "prediction case_000" in outcome.warnings[0]
    paired = table[table.acceptance != "no paper value"]
    for row in paired.itertuples():
        in_ci = row.ci_low <= row.dsc_paper <= row.ci_high
        assert row.paper_in_ci == in_ci and row.within == (abs(row.dsc - row.dsc_paper) <= 2.0)
        assert row.acceptance == ("interval" if in_ci else "tolerance" if row.within else "neither")
        assert row.ci_low <= row.dsc <= row.ci_high
    assert {"interval", "neither"} <= set(paired.acceptance)  # the grid's offsets give both
    demo = table[table.task_id == "Task990_MyOrgans"].iloc[0]
    assert demo.acceptance == "no paper value" and math.isnan(demo.reproduces)
    h = outcome.headline
    assert h["cells"] == 9 and h["with_paper"] == 8 and h["unverified"] == 1
    assert h["reproduce"] == int(paired.reproduces.astype(bool).sum())
    assert h["interval"] + h["tolerance"] + h["neither"] == 8
    page = (tmp_path / "r" / "report.html").read_text()
    assert "FAILED" in page and 'class="unverified"' in page and "Content-Security-Policy" in page
    assert page.index('id="summary"') < page.index('id="cells"') < page.index("By dataset size")
    assert (tmp_path / "r" / "headline_gains.csv").is_file()


def test_without_verification_cells_are_not_checked(grid, tmp_path):
    outcome = build_report(tmp_path / "r", out_root=grid, verify=False)
    table = pd.read_csv(tmp_path / "r" / "comparison.csv")
    assert set(table.verified) == {"not checked"} and outcome.headline["unverified"] == 0
    assert "not verified" in (tmp_path / "r" / "report.html").read_text()


def test_rule_interval_counts_fewer_or_equal(grid, tmp_path):
    either = build_report(tmp_path / "a", out_root=grid, rule="either").headline
    interval = build_report(tmp_path / "b", out_root=grid, rule="interval").headline
    tolerance = build_report(tmp_path / "c", out_root=grid, rule="tolerance").headline
    assert interval["reproduce"] == either["interval"]
    assert either["reproduce"] >= max(interval["reproduce"], tolerance["reproduce"])


def test_report_is_deterministic(grid, tmp_path):
    build_report(tmp_path / "one", out_root=grid, verify=True)
    build_report(tmp_path / "two", out_root=grid, verify=True)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_cli_verifies_by_default_and_takes_the_rule(grid, tmp_path, capsys):
    code = cli_main(["report", "--out-root", str(grid), "--out", str(tmp_path / "r"), "--accept", "interval"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "reproduce (interval):" in captured.out and "1 receipt(s) UNVERIFIED" in captured.out
    assert "warning: receipt FAILED verification: Task002_Heart / stunet-b_ft" in captured.err
    code = cli_main(["report", "--out-root", str(grid), "--out", str(tmp_path / "s"), "--no-verify"])
    captured = capsys.readouterr()
    assert code == 0 and "receipts not verified (--no-verify)" in captured.out
    code = cli_main(["report", "--out-root", str(grid), "--out", str(tmp_path / "t"), "--accept", "vibes"])
    captured = capsys.readouterr()
    assert code == 2 and "--accept" in captured.err


def test_receipt_without_per_case_metrics_uses_the_tolerance(tmp_path):
    receipt = write_run(tmp_path / "out", "Task009_Spleen", "stunet-b_ft", np.array([[0.95], [0.96]]))
    data = json.loads(receipt.read_text())
    data["metrics"]["per_case"] = {}
    receipt.write_text(json.dumps(data))
    build_report(tmp_path / "r", out_root=tmp_path / "out")
    row = pd.read_csv(tmp_path / "r" / "comparison.csv").iloc[0]
    assert math.isnan(row.ci_low) and row.acceptance in ("tolerance", "neither")
