"""The grid talks to its scheduler through one seam (segbook.grid.backend); Slurm sits behind it.

The states here come from a small in-memory backend that implements the interface, so what is
tested is the grid's side of the seam: that status reads queue states only through it, in the
backend's neutral phases. Slurm's side runs for real in tests/slurm.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from segbook.grid.backend import BACKENDS, RUNNING, WAITING, Backend, TaskState, get_backend
from segbook.grid.gridfile import read_grid
from segbook.grid.status import grid_status
from tests.grid_support import plan_grid
from tests.helpers import run_segbook

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SPLEEN = "Task009_Spleen"


class InMemoryBackend:
    """A scheduler that only remembers: task states are set by the test, cancels are recorded."""

    name = "slurm"  # it stands in for the backend the grid's records name
    requeue = "nothing requeues here"

    def __init__(self, queue: dict | None, ended: dict | None = None):
        self.queue, self.ended, self.cancelled, self.asked = queue, ended or {}, [], []

    def require(self) -> None:
        return None

    def submit_argv(self, script: Path) -> list[str]:
        return ["submit", str(script)]

    def submit(self, script: Path) -> str:
        return "1"

    def queued(self, jobs: set[str]):
        self.asked.append(sorted(jobs))
        return self.queue

    def finished(self, jobs: set[str]):
        return self.ended

    def cancel(self, jobs: set[str]) -> None:
        self.cancelled.append(sorted(jobs))


def _submitted(grid_dir: Path, job_id: str = "4242") -> list[str]:
    """A submission record sending every cell of the grid to one array job (as `grid submit` writes it)."""
    grid = read_grid(grid_dir)
    cells = [e.cell.id for e in grid.entries]
    folder = grid_dir / "slurm" / "001"
    folder.mkdir(parents=True)
    (folder / "submission.json").write_text(json.dumps({
        "format": "segbook-grid-submission/1", "backend": "slurm", "runtime": "native",
        "arrays": [{"class": "small", "script": "small.sbatch", "job_id": job_id, "cells": cells}]}))
    return cells


@pytest.fixture()
def two_cell_grid(tmp_path):
    grid, out, env = plan_grid(tmp_path, SPLEEN, "nnunet,stunet-b_scratch")
    return grid, _submitted(grid), env


def test_status_reads_queue_states_only_through_the_backend(two_cell_grid):
    grid_dir, cells, _ = two_cell_grid
    # the scheduler's own words are shown; the phase alone decides running vs queued
    backend = InMemoryBackend({("4242", "0"): TaskState("EXECUTING", "", RUNNING),
                               ("4242", "1"): TaskState("HELD", "waits for a licence", WAITING)})
    statuses, view = grid_status(read_grid(grid_dir), "flock", backend=backend)
    assert backend.asked == [["4242"]]
    by_cell = {s.cell: s for s in statuses}
    assert by_cell[cells[0]].state == "running" and by_cell[cells[0]].job == "4242_0"
    assert by_cell[cells[1]].state == "queued" and "held (waits for a licence)" in by_cell[cells[1]].detail
    assert view.array_jobs == {"4242"}


def test_an_ended_task_that_never_ran_its_cell_is_failed_with_the_schedulers_word(two_cell_grid):
    grid_dir, cells, _ = two_cell_grid
    backend = InMemoryBackend({}, ended={("4242", "0"): TaskState("CANCELLED")})
    by_cell = {s.cell: s for s in grid_status(read_grid(grid_dir), "flock", backend=backend)[0]}
    assert by_cell[cells[0]].state == "failed" and "ended (CANCELLED) before the cell started" in \
        by_cell[cells[0]].error
    assert by_cell[cells[1]].state == "failed" and "gone from the queue" in by_cell[cells[1]].error


def test_a_scheduler_that_cannot_be_asked_leaves_the_run_folders_to_decide(two_cell_grid):
    grid_dir, _, _ = two_cell_grid
    statuses, view = grid_status(read_grid(grid_dir), "flock", backend=InMemoryBackend(None))
    assert view.queue is None and {s.state for s in statuses} == {"queued"}
    assert all(s.detail == "submitted; Slurm not asked" for s in statuses)


def test_a_record_naming_an_unknown_backend_is_a_damaged_record(two_cell_grid):
    grid_dir, _, env = two_cell_grid
    record = grid_dir / "slurm" / "001" / "submission.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "backend": "kubernetes"}))
    result = run_segbook("grid", "status", str(grid_dir), env=env)
    assert result.returncode == 65, result.stderr
    assert "names no known backend" in result.stderr


def test_only_the_backend_registry_imports_the_slurm_commands():
    importers = []
    for path in (REPO / "segbook").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "segbook.grid":
                names += [f"segbook.grid.{a.name}" for a in node.names]
            if "segbook.grid.slurm_cli" in names:
                importers.append(str(path.relative_to(REPO)))
    assert importers == ["segbook/grid/backend.py"], importers


def test_the_slurm_backend_implements_the_interface_and_says_what_requeue_means():
    backend: Backend = get_backend("slurm")
    assert BACKENDS == ("slurm",) and backend.name == "slurm"
    for method in ("require", "submit_argv", "submit", "queued", "finished", "cancel"):
        assert callable(getattr(backend, method)), method
    assert "requeue_limit" in backend.requeue and "checkpoint" in backend.requeue
    assert backend.submit_argv(Path("/g/small.sbatch")) == ["sbatch", "--parsable", "/g/small.sbatch"]


def test_an_unknown_backend_is_a_usage_error(tmp_path):
    result = run_segbook("grid", "submit", str(tmp_path), "--backend", "kubernetes")
    assert result.returncode == 2 and "kubernetes" in result.stderr
