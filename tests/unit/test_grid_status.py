"""`segbook grid status` and `grid report` from synthetic receipts and run states (no training)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from tests.grid_support import plan_grid, write_receipt, write_run_state
from tests.helpers import run_segbook

pytestmark = pytest.mark.unit

SPLEEN = "Task009_Spleen"
HOLD_RUN_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from segbook.core.locks import exclusive
    from segbook.grid.cells import Cell
    with exclusive(Cell(*sys.argv[2].split("/")).run_lock(Path(sys.argv[1])), what="run of this cell"):
        print("held", flush=True)
        time.sleep(120)
""")


@pytest.fixture()
def spleen_grid(tmp_path):
    """A planned 7-cell grid (the paper's configurations) on Task009_Spleen, nothing run yet."""
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("base_ep4k.model", "large_ep4k.model", "huge_ep4k.model"):
        (weights / name).write_bytes(b"x")
    return plan_grid(tmp_path, SPLEEN, "paper", "--weights-dir", str(weights), "--trust-unpinned")


def _status(grid, env) -> dict:
    result = run_segbook("grid", "status", str(grid), "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_state_from_the_run_folders(spleen_grid):
    grid, out, env = spleen_grid
    write_receipt(out, f"{SPLEEN}/nnunet/all", 0.9553)
    write_receipt(out, f"{SPLEEN}/stunet-b_scratch/all", 0.95)
    write_run_state(out, f"{SPLEEN}/stunet-l_scratch/all",
                    [("failed", 65, "checkpoint_latest.pth is unreadable (truncated?)")])
    write_run_state(out, f"{SPLEEN}/stunet-h_scratch/all", [("interrupted", 75, "stopped by signal SIGUSR1")] * 2,
                    train_state={"checkpoint": "checkpoint_latest.pth", "epoch": 412, "epochs": 1000,
                                 "iteration": 17})
    write_run_state(out, f"{SPLEEN}/stunet-b_ft/all", [("interrupted", 75, "SIGUSR1"), ("running", None, None)])
    write_run_state(out, f"{SPLEEN}/stunet-l_ft/all", [("running", None, None)])  # no lock held: it died
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN_LOCK, str(out), f"{SPLEEN}/stunet-b_ft/all"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        report = _status(grid, env)
        text = run_segbook("grid", "status", str(grid), env=env)
    finally:
        holder.kill()
        holder.wait()
    states = {c["configuration"]: c for c in report["cells"]}
    assert states["nnunet"]["state"] == "done" and states["nnunet"]["mean_dice"] == pytest.approx(0.9553)
    assert states["stunet-l_scratch"]["state"] == "failed"
    assert states["stunet-l_scratch"]["error"] == "exit 65: checkpoint_latest.pth is unreadable (truncated?)"
    assert states["stunet-l_scratch"]["log"].endswith("stunet-l_scratch/logs/nnunet.log")
    assert (states["stunet-h_scratch"]["state"], states["stunet-h_scratch"]["restarts"]) == ("preempted", 2)
    assert states["stunet-b_ft"]["state"] == "running" and states["stunet-b_ft"]["restarts"] == 1
    assert states["stunet-l_ft"]["state"] == "failed" and "without a word" in states["stunet-l_ft"]["error"]
    assert states["stunet-h_ft"]["state"] == "pending"
    assert report["summary"].startswith("7 cells: 2 done, 1 running, 1 preempted, 2 failed, 1 pending")
    lines = text.stdout.splitlines()
    assert lines[0] == report["summary"]
    assert any("stunet-h_scratch/all" in line and "preempted (requeued 2x)" in line and "epoch 412/1000 + 17 it"
               in line for line in lines), text.stdout
    assert any("stunet-b_scratch/all" in line and "mean Dice 0.9500" in line for line in lines)


def test_the_ledger_lists_every_cell_next_to_the_paper(spleen_grid):
    grid, out, env = spleen_grid
    for config, dice in (("nnunet", 0.95), ("stunet-b_scratch", 0.93), ("stunet-b_ft", 0.97)):
        write_receipt(out, f"{SPLEEN}/{config}/all", dice)
    write_run_state(out, f"{SPLEEN}/stunet-h_ft/all", [("failed", 70, "RuntimeError: CUDA out of memory")])
    result = run_segbook("grid", "report", str(grid), env=env)
    assert result.returncode == 0, result.stderr
    assert "7 cells, 3 done" in result.stdout
    # segbook report's rule, receipts verified: these stand-in receipts' weights and predictions do not
    # hash to what they record, so no cell counts as reproduced however close its Dice is
    assert "0/3 reproduce the paper" in result.stdout and "3 unverified" in result.stdout, result.stdout
    folder = grid / "report"
    assert {"ledger.csv", "ledger_wide.csv", "ledger.md", "ledger.png", "ledger.html", "by_size.csv",
            "finetune_gain_by_size.csv"} <= {p.name for p in folder.iterdir()}
    import pandas as pd  # noqa: PLC0415

    long = pd.read_csv(folder / "ledger.csv")
    assert len(long) == 7 and set(long["state"]) == {"done", "failed", "pending"}
    assert set(long.loc[long["state"] == "done", "verified"]) == {"UNVERIFIED"}
    nnunet = long[long["configuration"] == "nnunet"].iloc[0]
    assert (nnunet["dsc"], nnunet["dsc_paper"]) == (pytest.approx(95.0), pytest.approx(95.53))
    wide = pd.read_csv(folder / "ledger_wide.csv")
    assert list(wide.columns) == ["task_id", "nnunet", "stunet-b_scratch", "stunet-l_scratch", "stunet-h_scratch",
                                  "stunet-b_ft", "stunet-l_ft", "stunet-h_ft"]
    row = wide.iloc[0]
    assert row["nnunet"] == "95.0 / 95.5" and row["stunet-h_ft"] == "failed / 96.9" and row["stunet-l_ft"] == \
        "pending / 96.9"
    gains = pd.read_csv(folder / "finetune_gain_by_size.csv")
    overall = gains[(gains["group"] == "all datasets") & (gains["scale"] == "B")].iloc[0]
    assert overall["n_datasets"] == 1 and overall["gain"] == pytest.approx(4.0)
    by_size = pd.read_csv(folder / "by_size.csv")
    assert set(by_size[by_size["group"] == "all datasets"]["n_datasets"]) == {1}
    html = (folder / "ledger.html").read_text()
    assert "data:image/png;base64," in html and "failed / 96.9" in html
    assert (folder / "ledger.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run_segbook("grid", "report", str(grid), env=env)
    assert again.returncode == 73  # never overwrite without --force


def test_one_array_per_resource_class_and_a_warning_when_requeues_cannot_cover_a_cell(spleen_grid):
    grid, out, env = spleen_grid
    write_receipt(out, f"{SPLEEN}/nnunet/all", 0.95)  # done: left out
    result = run_segbook("grid", "submit", str(grid), "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    arrays = re.findall(r"^==> .*/(\w+)\.sbatch \((\d+) task\(s\)\)$", result.stdout, re.MULTILINE)
    assert arrays == [("small", "2"), ("large", "2"), ("huge", "2")]
    assert "left out: 1 done" in result.stdout
    # 1000 x 250 iterations of STU-Net-H: about 289 estimated GPU-hours, 12 jobs of 24 h > requeue_limit 10
    assert re.search(r"warning: stunet-h_scratch cells need about 289 GPU-hours \(estimate\): 12 restarts at a "
                     r"24:00:00 time limit, more than requeue_limit 10", result.stderr), result.stderr
    assert "stunet-l_scratch cells need" not in result.stderr
