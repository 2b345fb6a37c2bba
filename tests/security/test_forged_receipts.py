"""One meaning of "done": a forged or damaged receipt is "broken" everywhere, never done, never an exit 70.

The probe's receipt is nine lines with no files and no hashes; `grid status` showed it done with a
mean Dice, `grid report` counted it as reproduced and `grid submit` left it out.
"""

from __future__ import annotations

import json
import re

import pytest

from segbook.verify.done import BROKEN, DONE, MISSING, check_cell
from tests.grid_support import plan_grid, run_dir, write_receipt
from tests.helpers import run_segbook

pytestmark = [pytest.mark.unit, pytest.mark.security]

SPLEEN = "Task009_Spleen"
CELL = f"{SPLEEN}/nnunet/all"


def forged(folder, mean_dice=0.955):
    """The probe's 9-line receipt: parses, names every top-level block, holds nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    body = {"schema": "segbook-receipt/1", "kit": {}, "dataset": {"task_id": SPLEEN},
            "configuration": {"name": "nnunet", "fold": "all"}, "hashes": {}, "files": {},
            "metrics": {"summary": {"mean_dice": mean_dice}}}
    (folder / "receipt.json").write_text(json.dumps(body, indent=1))
    return folder / "receipt.json"


def _damage(receipt_path, change):
    body = json.loads(receipt_path.read_text())
    change(body)
    receipt_path.write_text(json.dumps(body))


DAMAGES = {
    "no mean_dice": lambda b: b["metrics"]["summary"].pop("mean_dice"),
    "mean_dice a string": lambda b: b["metrics"]["summary"].update(mean_dice="0.9"),
    "mean_dice a list": lambda b: b["metrics"]["summary"].update(mean_dice=[0.9]),
    "mean_dice above 1": lambda b: b["metrics"]["summary"].update(mean_dice=95.5),
    "summary a string": lambda b: b["metrics"].update(summary="good"),
    "configuration a string": lambda b: b.update(configuration="nnunet"),
    "a prediction dropped": lambda b: b["hashes"]["predictions"].pop("case_000"),
    "split hash edited": lambda b: b["hashes"].update(split="f" * 64),
    "files escape": lambda b: b["files"].update(split="../../../../etc/passwd"),
}


def test_a_consistent_receipt_is_done_and_no_receipt_is_missing(tmp_path):
    assert check_cell(tmp_path / "nothing").state == MISSING
    write_receipt(tmp_path, CELL, 0.9)
    checked = check_cell(run_dir(tmp_path, CELL))
    assert checked.state == DONE and checked.mean_dice == 0.9


def test_the_forged_receipt_is_broken(tmp_path):
    checked = check_cell(forged(run_dir(tmp_path, CELL)).parent)
    assert checked.state == BROKEN and checked.mean_dice is None, checked


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_damage_is_broken(tmp_path, damage):
    path = write_receipt(tmp_path, CELL, 0.9)
    _damage(path, DAMAGES[damage])
    assert check_cell(path.parent).state == BROKEN


def test_a_missing_prediction_file_is_broken(tmp_path):
    path = write_receipt(tmp_path, CELL, 0.9)
    (path.parent / "predictions" / "case_001.nii.gz").unlink()
    assert "prediction case_001" in check_cell(path.parent).reason


def test_deeply_nested_json_is_broken_not_a_crash(tmp_path):
    folder = run_dir(tmp_path, CELL)
    folder.mkdir(parents=True)
    (folder / "receipt.json").write_text("[" * 100_000 + "]" * 100_000)
    assert check_cell(folder).state == BROKEN


@pytest.fixture()
def spleen_grid(tmp_path):
    return plan_grid(tmp_path, SPLEEN, "nnunet")


def test_grid_status_report_and_submit_never_trust_a_forged_receipt(spleen_grid):
    grid, out, env = spleen_grid
    forged(run_dir(out, CELL))
    status = run_segbook("grid", "status", str(grid), "--format", "json", env=env)
    assert status.returncode == 0, status.stderr
    (cell,) = json.loads(status.stdout)["cells"]
    assert cell["state"] == "broken" and cell["mean_dice"] is None and "damaged receipt" in cell["error"]
    report = run_segbook("grid", "report", str(grid), env=env)
    assert report.returncode == 0, report.stderr
    assert re.search(r"1 cells, 0 done, 0/0 reproduce", report.stdout), report.stdout
    submit = run_segbook("grid", "submit", str(grid), "--dry-run", env=env)
    assert "1 done" not in submit.stdout, submit.stdout


def test_finetune_refuses_a_broken_cell_with_65_and_two_lines(tmp_path):
    out = tmp_path / "out"
    forged(out / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch")
    result = run_segbook("finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--out", str(out),
                         "--device", "cpu", "--epochs", "1", "--iterations-per-epoch", "1")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 65, result.stderr
    assert lines[-2].startswith("error: ") and "damaged receipt" in lines[-2] and lines[-1].startswith("hint: ")
    assert "--force" in lines[-1]
