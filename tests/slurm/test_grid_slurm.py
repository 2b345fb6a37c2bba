"""The grid through a real Slurm: real sbatch, real `segbook finetune` cells on the demo, a real preemption.

One uninterrupted native run of STU-Net-S from scratch is the reference (it also prepares and plans
the demo once; every grid here starts from a copy of that output root). Tiny schedule, CPU.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segbook.grid.gridfile import read_grid
from tests.helpers import clone_prepared_root, run_segbook

pytestmark = pytest.mark.slurm

SCHEDULE = ["--epochs", "1", "--iterations-per-epoch", "10", "--device", "cpu"]  # ~10 s of training to hit
DEMO = "Task999_SegBookDemo"
WEIRD = "dir $(touch PWNED) `touch PWNED`"  # must stay inert in every script and command
PROFILE = """\
gpu_request: none      # the test node has no GPU
cpus: 1                # two cells at a time on the 2-CPU node
mem: 1G
time: "30"
requeue_limit: 3
signal_grace: 60
"""
PRETRAIN = """
import sys
from pathlib import Path
from segbook.demo.pretrain import pretrain_stunet_s
from segbook.nnunet.determinism import enable_deterministic_algorithms
enable_deterministic_algorithms(2)
pretrain_stunet_s(Path(sys.argv[1]), seed=12345, steps=2, progress=lambda m: None)
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """Demo weights (a short stand-in pre-training) and an uninterrupted native scratch run."""
    root = tmp_path_factory.mktemp("reference")
    weights = root / "pretrained" / "stunet_s_demo.model"
    subprocess.run([sys.executable, "-c", PRETRAIN, str(weights)], check=True, timeout=600)
    run_segbook("finetune", "Demo", "--model", "stunet-s", "--init", "scratch", *SCHEDULE, "--out", str(root / "out"),
                check=True)
    receipt = json.loads((root / "out" / "runs" / DEMO / "stunet-s_scratch" / "receipt.json").read_text())
    return {"root": root / "out", "weights": weights, "receipt": receipt}


def _wait(what: str, condition, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _fail_fast_if_failed(out: Path, config: str, grid: Path) -> None:
    """Stop waiting when the cell has already failed, and show why."""
    state = out / "runs" / DEMO / config / "run_state.json"
    invocations = json.loads(state.read_text())["invocations"] if state.is_file() else []
    if invocations and invocations[-1]["outcome"] == "failed":
        logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in (grid / "slurm" / "logs").glob("*.out"))
        raise AssertionError(f"{config} failed: {invocations[-1]['error']}\n{logs}")


def _status(grid: Path) -> dict:
    result = run_segbook("grid", "status", str(grid), "--format", "json")
    assert result.returncode == 0, result.stderr
    return {c["configuration"]: c for c in json.loads(result.stdout)["cells"]} | {"_": json.loads(result.stdout)}


def _queue(cluster, job: str) -> dict[str, str]:
    out = cluster.run("squeue", "--noheader", "--array", "--format=%i|%T", "--jobs", job, check=False).stdout
    return dict(line.split("|") for line in out.split() if "|" in line)


def _plan_and_submit(tmp_path, reference, configs: str, weights: Path | None) -> tuple[Path, Path, str, str]:
    out = clone_prepared_root(reference["root"], tmp_path / "out")
    grid = tmp_path / f"grid {WEIRD}"
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE)
    plan = ["grid", "plan", "--datasets", "Demo", "--configs", configs, *SCHEDULE, "--out", str(out), "--grid",
            str(grid)]
    if weights is not None:
        plan += ["--weights", f"S={weights}", "--trust-unpinned"]
    run_segbook(*plan, check=True)
    submitted = run_segbook("grid", "submit", str(grid), "--backend", "slurm", "--profile", str(profile))
    assert submitted.returncode == 0, submitted.stderr
    job = re.search(r"^small: job (\d+), ", submitted.stdout, re.MULTILINE).group(1)
    return out, grid, job, submitted.stdout


def test_failed_cells_are_reported_and_only_they_are_resubmitted(slurm_cluster, reference, tmp_path):
    bad = tmp_path / f"weights {WEIRD}" / "broken.model"
    bad.parent.mkdir()
    bad.write_bytes(b"not a checkpoint")
    # the scratch cell is already done (its run folder copied from the reference): never submitted
    out = clone_prepared_root(reference["root"], tmp_path / "out")
    shutil.copytree(reference["root"] / "runs", out / "runs")
    grid = tmp_path / f"grid {WEIRD}"
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE)
    run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "stunet-s_scratch,stunet-s_ft", *SCHEDULE,
                "--out", str(out), "--grid", str(grid), "--weights", f"S={bad}", "--trust-unpinned", check=True)
    submitted = run_segbook("grid", "submit", str(grid), "--profile", str(profile))
    assert submitted.returncode == 0, submitted.stderr
    assert "small: job" in submitted.stdout and "1 task(s)" in submitted.stdout and "not submitted: 1 done" in \
        submitted.stdout
    job = re.search(r"^small: job (\d+), ", submitted.stdout, re.MULTILINE).group(1)
    _wait("the broken cell to fail", lambda: _status(grid)["stunet-s_ft"]["state"] == "failed", 300, 2)
    cell = _status(grid)["stunet-s_ft"]
    assert cell["error"].startswith("exit 65: ") and cell["job"] == f"{job}_0", cell
    assert Path(cell["log"]).is_file() and "segbook-grid: cell Task999_SegBookDemo/stunet-s_ft/all" in \
        Path(cell["log"]).read_text()
    assert _status(grid)["stunet-s_scratch"]["state"] == "done"
    again = run_segbook("grid", "resubmit", str(grid), "--failed")
    assert again.returncode == 0, again.stderr
    record = json.loads((grid / "slurm" / "002" / "submission.json").read_text())
    assert [a["cells"] for a in record["arrays"]] == [[f"{DEMO}/stunet-s_ft/all"]]
    assert record["profile"] == str(profile)  # resubmit reused the last submission's profile
    new_job = record["arrays"][0]["job_id"]
    _wait("the resubmitted cell to fail again", lambda: _status(grid)["stunet-s_ft"]["job"] == f"{new_job}_0"
          and _status(grid)["stunet-s_ft"]["state"] == "failed", 300, 2)
    assert not list(tmp_path.rglob("PWNED"))


def test_three_cells_finish_through_a_preemption_with_the_uninterrupted_bits(slurm_cluster, reference, tmp_path):
    weights = tmp_path / f"weights {WEIRD}" / "demo.model"
    weights.parent.mkdir()
    shutil.copy2(reference["weights"], weights)
    out, grid, job, printed = _plan_and_submit(tmp_path, reference, "stunet-s_scratch,stunet-s_ft,nnunet", weights)
    assert "3 task(s)" in printed
    cells = (grid / "slurm" / "001" / "small" / "cells.txt").read_text().split()
    task = str(cells.index(f"{DEMO}/stunet-s_scratch/all"))
    results = out / "runs" / DEMO / "stunet-s_scratch" / "nnUNet_results"

    def training_started() -> bool:
        _fail_fast_if_failed(out, "stunet-s_scratch", grid)
        # nnU-Net's own training log is written line by line (the kit's copy of its stdout is buffered)
        return any("Epoch 0" in log.read_text(errors="replace") for log in results.rglob("training_log_*.txt"))

    _wait("the scratch cell to start training", training_started, 480, 0.3)
    # what Slurm does before preemption or the time limit (--signal=B:USR1@grace), by hand
    slurm_cluster.run("scancel", "--signal=USR1", "--batch", f"{job}_{task}")
    _wait("the preempted task to be requeued", lambda: _queue(slurm_cluster, job).get(f"{job}_{task}") == "PENDING"
          and (out / "runs" / DEMO / "stunet-s_scratch" / "train_state.json").is_file(), 180, 0.5)
    preempted = _status(grid)["stunet-s_scratch"]
    assert (preempted["state"], preempted["restarts"]) == ("preempted", 1), preempted
    # stopped inside the training: a mid-epoch checkpoint, not the final one
    checkpoint = json.loads((out / "runs" / DEMO / "stunet-s_scratch" / "train_state.json").read_text())
    assert (checkpoint["checkpoint"], checkpoint["epoch"]) == ("checkpoint_latest.pth", 0), checkpoint
    assert 1 <= checkpoint["iteration"] <= 10, checkpoint
    assert "epoch 0/1 + " in preempted["detail"], preempted
    # Slurm holds a requeued job for about two minutes before it may start again: let it go now
    slurm_cluster.run("scontrol", "update", f"JobId={job}_{task}", "StartTime=now")
    _wait("all three cells to finish", lambda: not _queue(slurm_cluster, job)
          and all(_status(grid)[c]["state"] == "done" for c in ("nnunet", "stunet-s_scratch", "stunet-s_ft")), 600, 3)

    status = _status(grid)
    assert status["_"]["summary"].startswith("3 cells: 3 done; 1 interruption(s) so far"), status["_"]["summary"]
    text = run_segbook("grid", "status", str(grid)).stdout
    assert re.search(r"stunet-s_scratch/all\s+done \(requeued 1x\)", text), text
    slurm_log = Path(status["stunet-s_scratch"]["log"]).read_text()
    assert "received SIGUSR1, forwarding it to segbook" in slurm_log
    assert "requeueing, restart 1 of 3" in slurm_log and ", restart 1, on " in slurm_log
    run_dir = out / "runs" / DEMO / "stunet-s_scratch"
    history = json.loads((run_dir / "run_state.json").read_text())["invocations"]
    assert [(i["outcome"], i["slurm_job"], i["slurm_restarts"]) for i in history] == [
        ("interrupted", f"{job}_{task}", 0), ("done", f"{job}_{task}", 1)]
    receipt = json.loads((run_dir / "receipt.json").read_text())
    expected = reference["receipt"]
    assert receipt["configuration"]["resumed"] is True
    assert receipt["configuration"]["options"] == read_grid(grid).settings.options.as_dict()
    assert receipt["hashes"]["final_weights"] == expected["hashes"]["final_weights"]
    assert receipt["hashes"]["predictions"] == expected["hashes"]["predictions"]

    report = run_segbook("grid", "report", str(grid))
    assert report.returncode == 0, report.stderr
    ledger = (grid / "report" / "ledger.csv").read_text().splitlines()
    assert len(ledger) == 1 + 3 and all(",done," in line for line in ledger[1:])
    assert run_segbook("grid", "submit", str(grid)).stdout.startswith("nothing to submit (3 done)")
    assert not list(tmp_path.rglob("PWNED"))


def test_cancel_stops_the_grids_queued_tasks_through_the_backend(slurm_cluster, tmp_path):
    """`grid cancel` (scancel behind the backend seam) on a held array: nothing trains, so it is cheap."""
    grid = tmp_path / f"grid {WEIRD}"
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE + "extra_sbatch: [--hold]\n")  # held: the tasks wait until cancelled
    run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "stunet-s_scratch,nnunet", *SCHEDULE,
                "--out", str(tmp_path / "out"), "--grid", str(grid), check=True)
    submitted = run_segbook("grid", "submit", str(grid), "--profile", str(profile))
    assert submitted.returncode == 0, submitted.stderr
    job = re.search(r"^small: job (\d+), ", submitted.stdout, re.MULTILINE).group(1)
    assert json.loads((grid / "slurm" / "001" / "submission.json").read_text())["backend"] == "slurm"
    _wait("both tasks to be listed as held", lambda: len(_queue(slurm_cluster, job)) == 2, 60, 0.5)
    assert {c["state"] for k, c in _status(grid).items() if k != "_"} == {"queued"}

    looked = run_segbook("grid", "cancel", str(grid), "--dry-run")
    assert looked.returncode == 0 and f"would cancel 2 task(s) of job(s) {job}" in looked.stdout, looked
    assert len(_queue(slurm_cluster, job)) == 2
    cancelled = run_segbook("grid", "cancel", str(grid))
    assert cancelled.returncode == 0 and f"cancelled 2 task(s) of job(s) {job}" in cancelled.stdout, cancelled
    _wait("the queue to forget the grid", lambda: not _queue(slurm_cluster, job), 60, 0.5)
    cells = {k: c for k, c in _status(grid).items() if k != "_"}
    assert {c["state"] for c in cells.values()} == {"failed"}, cells
    assert all("before the cell started" in c["error"] for c in cells.values()), cells
    again = run_segbook("grid", "cancel", str(grid))
    assert again.returncode == 0 and again.stdout.startswith("nothing to cancel"), again
    assert not (tmp_path / "out" / "runs").exists() and not list(tmp_path.rglob("PWNED"))


@pytest.fixture()
def docker_api(podman, tmp_path):
    """unix://SOCKET of the Docker API Podman serves (grid submit reads the image's labels through it)."""
    socket = tmp_path / "podman.sock"
    service = subprocess.Popen([podman, "system", "service", "--time=0", f"unix://{socket}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait("podman system service", lambda: socket.exists() or service.poll() is not None, 60, 0.2)
        assert service.poll() is None, "podman system service did not start"
        yield f"unix://{socket}"
    finally:
        service.terminate()  # the service this fixture started, by its own handle
        service.wait(timeout=30)


def test_a_grid_cell_runs_in_the_image_through_slurm_with_the_native_bits(slurm_cluster, reference, image, docker_api,
                                                                           tmp_path):
    """A real array task runs `podman run` of the built image (the kit's one container command line);
    the cell's receipt verifies and its hashes are the native reference's."""
    out = tmp_path / "out"
    out.mkdir()  # a fresh root: the cell prepares and plans the demo inside the image
    grid = tmp_path / "grid"
    profile = tmp_path / "site.yaml"
    profile.write_text(PROFILE)
    run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "stunet-s_scratch", *SCHEDULE, "--out", str(out),
                "--grid", str(grid), check=True)
    submitted = run_segbook("grid", "submit", str(grid), "--profile", str(profile), "--runtime", "podman",
                            "--image", image, "--docker-host", docker_api)
    assert submitted.returncode == 0, submitted.stderr
    job = re.search(r"^small: job (\d+), ", submitted.stdout, re.MULTILINE).group(1)
    # the task's argv, NUL-separated, as the job script reads it: podman, hardened, with this host's limits
    command = (grid / "slurm" / "001" / "small" / "task-0.argv").read_bytes().decode().split("\0")[:-1]
    assert command[:3] == ["podman", "run", "--rm"] and image in command and "--ulimit" in command

    def finished() -> bool:
        _fail_fast_if_failed(out, "stunet-s_scratch", grid)
        return not _queue(slurm_cluster, job) and _status(grid)["stunet-s_scratch"]["state"] == "done"

    _wait("the cell in the image to finish", finished, 900, 3)
    receipt_path = out / "runs" / DEMO / "stunet-s_scratch" / "receipt.json"
    receipt = json.loads(receipt_path.read_text())
    assert receipt["runtime"]["kind"] == "podman" and receipt["runtime"]["image_digest"].startswith("sha256:")
    # the grid file's options, through the task's argv into the image, reached the receipt unchanged
    assert receipt["configuration"]["options"] == read_grid(grid).settings.options.as_dict()
    invocation = json.loads((out / "runs" / DEMO / "stunet-s_scratch" / "run_state.json").read_text())["invocations"]
    assert [(i["outcome"], i["slurm_job"]) for i in invocation] == [("done", f"{job}_0")]  # Slurm's ids got in
    verified = run_segbook("verify", str(receipt_path))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reference_receipt = reference["root"] / "runs" / DEMO / "stunet-s_scratch" / "receipt.json"
    against = run_segbook("verify", str(receipt_path), "--against", str(reference_receipt))
    assert against.returncode == 0, against.stdout + against.stderr
    for name in ("final_weights", "predictions"):
        assert receipt["hashes"][name] == reference["receipt"]["hashes"][name], name
