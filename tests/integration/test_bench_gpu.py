"""`make bench-gpu`'s one script, run as the tests can: `--device cpu --quick`, with the demo's own
deterministic scratch run as the first of the two deterministic runs (so two short trainings, not three)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_gpu.py"


def test_bench_gpu_records_every_part_in_one_json_file(demo_runs, tmp_path):
    out = tmp_path / "bench-gpu.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--reference",
                           str(demo_runs["scratch"]), "--json", str(out)], capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["format"] == "segbook-bench-gpu/1" and result["device_name"] == "cpu" and not result["skipped"]
    assert [r["scale"] for r in result["stunet"]] == ["S", "B"]
    for row in result["stunet"]:
        # FlopCounterMode over forward+backward: a conv's backward costs twice its forward
        assert 2.9 < row["flops"] / row["forward_flops"] < 3.05, row
        assert row["tflops_per_s"] > 0 and row["peak_memory_gib"] > 0 and row["mfu"] is None  # no CPU peak
    assert result["stunet"][1]["parameters"] > 3 * result["stunet"][0]["parameters"]
    batch = result["largest_batch"]
    assert (batch["largest_batch"], batch["limited_by"], sorted(batch["tried"])) == (2, "cap", ["1", "2"])
    det = result["determinism"]
    reference = json.loads((demo_runs["scratch"] / "receipt.json").read_text())
    assert det["final_weights"][0] == reference["hashes"]["final_weights"]
    assert det["same_final_weights"] is True and det["same_predictions"] is True, det
    assert det["cost"] > 0 and det["schedule"] == {"epochs": 1, "iterations_per_epoch": 2}
    assert result["predict"]["cases"] == 2 and result["predict"]["s_per_case"] > 0
    assert "determinism: same final weights True" in done.stdout


def test_a_reference_that_is_not_the_benchs_cell_is_refused(demo_runs, tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--budget-s", "0",
                           "--reference", str(demo_runs["ft"]), "--json", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0 and "is not this bench's cell" in done.stderr, done.stderr
    assert not (tmp_path / "x.json").exists()
