"""Interrupted anywhere, resumed any number of times: the same final weights and predictions.

The trainer is stopped by the fault-injection drill SEGBOOK_STOP_AFTER_ITERATION=N, which takes the
same path as a real SIGUSR1 arriving during iteration N (finish the iteration, checkpoint, exit 75)
but at an exact point; test_resume.py and the Slurm tests send real signals.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import clone_prepared_root, run_segbook

pytestmark = pytest.mark.integration

EPOCHS, ITERATIONS = 3, 3
CELL = ["finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--fold", "1",
        "--epochs", str(EPOCHS), "--iterations-per-epoch", str(ITERATIONS)]


def _run(root, stop_after=None):
    env = {"SEGBOOK_STOP_AFTER_ITERATION": str(stop_after)} if stop_after else {"SEGBOOK_STOP_AFTER_ITERATION": ""}
    return run_segbook(*CELL, "--out", str(root), env=env)


def _run_dir(root):
    return root / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch_fold1"


@pytest.fixture(scope="module")
def reference(demo_out, tmp_path_factory):
    root = clone_prepared_root(demo_out, tmp_path_factory.mktemp("uninterrupted"))
    done = _run(root)
    assert done.returncode == 0, done.stderr
    return json.loads((_run_dir(root) / "receipt.json").read_text())


def test_interrupted_runs_end_bit_identical(reference, demo_out, tmp_path):
    # One run stopped four times covers mid-epoch (e0k2, e1k1, e2k2) and the end of an epoch's training
    # before its validation (stop 6 = e1k3): each resume starts from the state the previous stop left.
    stops = (2, 4, 6, 8)
    root = clone_prepared_root(demo_out, tmp_path / "out")
    for stop in stops:
        stopped = _run(root, stop_after=stop)
        assert stopped.returncode == 75, stopped.stderr
        assert stopped.stderr.count("\nerror: ") + stopped.stderr.startswith("error: ") == 1, stopped.stderr
        state = json.loads((_run_dir(root) / "train_state.json").read_text())
        epoch, iteration = divmod(stop, ITERATIONS)
        if iteration == 0:  # stopped after the last iteration of an epoch, before its validation
            epoch, iteration = epoch - 1, ITERATIONS
        assert (state["checkpoint"], state["epoch"], state["iteration"]) == ("checkpoint_latest.pth", epoch, iteration)
        assert f"checkpoint_latest.pth ({epoch}/{EPOCHS} epochs + {iteration} iterations)" in stopped.stderr
        assert not (_run_dir(root) / "receipt.json").exists()
    finished = _run(root)
    assert finished.returncode == 0, finished.stderr
    assert "continuing from checkpoint_latest.pth" in finished.stderr
    receipt = json.loads((_run_dir(root) / "receipt.json").read_text())
    assert receipt["configuration"]["resumed"] is True
    assert receipt["hashes"]["final_weights"] == reference["hashes"]["final_weights"]
    assert receipt["hashes"]["predictions"] == reference["hashes"]["predictions"]
    assert receipt["metrics"]["summary"] == reference["metrics"]["summary"]
    history = json.loads((_run_dir(root) / "run_state.json").read_text())["invocations"]
    assert [i["outcome"] for i in history] == ["interrupted"] * len(stops) + ["done"]
