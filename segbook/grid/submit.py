"""A submission: GRID/slurm/NNN/ with one job-array script per resource class, and its job ids.

    GRID/slurm/001/small.sbatch          the array script (sbatch it by hand if you like)
    GRID/slurm/001/small/task-0.argv     array task 0's command, NUL-separated
    GRID/slurm/001/small/cells.txt       line i+1 = the cell of array task i
    GRID/slurm/001/commands.txt          every command, shell-quoted, for reading
    GRID/slurm/001/submission.json       when, how, and the job id of each array
    GRID/slurm/logs/small-<job>_<task>.out   Slurm's output of each task (all attempts appended)

The folder is written completely before the first sbatch (a temporary name, then renamed); the
record is updated after each sbatch, so a failure half-way still says what was submitted.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InvalidInput
from segbook.core.fsio import atomic_directory, atomic_write_json
from segbook.core.timefmt import now_iso
from segbook.core.untrusted import read_json
from segbook.grid.backend import BACKENDS, Backend
from segbook.grid.cells import RESOURCE_CLASSES
from segbook.grid.commands import Runtime, cell_argv
from segbook.grid.gridfile import Grid, GridEntry
from segbook.grid.profile import SiteProfile
from segbook.grid.slurm_script import render_script

SUBMISSIONS_DIR = "slurm"
LOGS_DIR = "logs"
RECORD = "submission.json"


@dataclass
class PlannedArray:
    resource_class: str
    entries: list[GridEntry]
    argvs: list[list[str]]
    script: str  # the script's text

    @property
    def script_name(self) -> str:
        return f"{self.resource_class}.sbatch"


def submissions_root(grid: Grid) -> Path:
    return grid.folder.resolve() / SUBMISSIONS_DIR


def log_dir(grid: Grid) -> Path:
    return submissions_root(grid) / LOGS_DIR


def next_submission_folder(grid: Grid) -> Path:
    root = submissions_root(grid)
    numbers = [int(p.name) for p in root.glob("[0-9][0-9][0-9]") if p.is_dir()] if root.is_dir() else []
    return root / f"{max(numbers, default=0) + 1:03d}"


def _job_name(grid: Grid, resource_class: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"segbook-{grid.folder.resolve().name}-{resource_class}")


def plan_arrays(grid: Grid, entries: list[GridEntry], runtime: Runtime, profile: SiteProfile,
                folder: Path) -> list[PlannedArray]:
    """One array per resource class that has cells, its scripts and commands (nothing written)."""
    arrays = []
    for resource_class in RESOURCE_CLASSES:
        members = [e for e in entries if e.cell.resource_class == resource_class]
        if not members:
            continue
        argvs = [cell_argv(e, grid.settings, runtime) for e in members]
        script = render_script(resource_class, profile, job_name=_job_name(grid, resource_class),
                               tasks_dir=folder / resource_class, log_dir=log_dir(grid), n_tasks=len(members),
                               runtime_kind=runtime.kind, image_mismatch=runtime.image_mismatch)
        arrays.append(PlannedArray(resource_class, members, argvs, script))
    return arrays


def describe(arrays: list[PlannedArray], folder: Path, backend: Backend) -> str:
    """What --dry-run prints: each script, its submit line and every task's command."""
    parts = []
    for array in arrays:
        parts.append(f"==> {folder / array.script_name} ({len(array.entries)} task(s))\n{array.script}")
        parts.append("$ " + shlex.join(backend.submit_argv(folder / array.script_name)))
        parts += [f"  task {i} ({e.cell.id}): {shlex.join(argv)}"
                  for i, (e, argv) in enumerate(zip(array.entries, array.argvs, strict=True))]
        parts.append("")
    return "\n".join(parts)


def _record(folder: Path, arrays: list[PlannedArray], runtime: Runtime, profile: SiteProfile,
            job_ids: dict[str, str], backend: Backend) -> dict:
    return {
        "format": "segbook-grid-submission/1", "created": now_iso(), "backend": backend.name,
        "runtime": runtime.kind, "image": runtime.image, "image_digest": runtime.image_digest,
        "image_mismatch": runtime.image_mismatch, "profile": profile.source,
        "arrays": [{"class": a.resource_class, "script": a.script_name, "job_id": job_ids.get(a.resource_class),
                    "cells": [e.cell.id for e in a.entries]} for a in arrays],
    }


def write_submission(folder: Path, arrays: list[PlannedArray], runtime: Runtime, profile: SiteProfile,
                     backend: Backend) -> None:
    with atomic_directory(folder) as tmp:
        for array in arrays:
            tasks = tmp / array.resource_class
            tasks.mkdir()
            for index, argv in enumerate(array.argvs):
                (tasks / f"task-{index}.argv").write_bytes(b"\0".join(a.encode("utf-8") for a in argv) + b"\0")
            (tasks / "cells.txt").write_text("".join(f"{e.cell.id}\n" for e in array.entries), encoding="utf-8")
            script = tmp / array.script_name
            script.write_text(array.script, encoding="utf-8")
            script.chmod(0o755)
        (tmp / "commands.txt").write_text(describe(arrays, folder, backend), encoding="utf-8")
        atomic_write_json(tmp / RECORD, _record(folder, arrays, runtime, profile, {}, backend))
    (folder.parent / LOGS_DIR).mkdir(parents=True, exist_ok=True)


def submit_arrays(folder: Path, arrays: list[PlannedArray], runtime: Runtime, profile: SiteProfile,
                  progress, backend: Backend) -> dict[str, str]:
    """Submit each array, recording every job id as soon as the scheduler hands it out."""
    job_ids: dict[str, str] = {}
    for array in arrays:
        try:
            job_ids[array.resource_class] = backend.submit(folder / array.script_name)
        except BaseException:
            if not job_ids:  # nothing reached Slurm: leave no submission behind
                shutil.rmtree(folder, ignore_errors=True)
            raise
        progress(f"submitted {array.resource_class}: job {job_ids[array.resource_class]} "
                 f"({len(array.entries)} task(s))")
        record = _record(folder, arrays, runtime, profile, job_ids, backend)
        record["created"] = json.loads((folder / RECORD).read_text(encoding="utf-8"))["created"]
        atomic_write_json(folder / RECORD, record)
    return job_ids


def load_submissions(grid: Grid) -> list[dict]:
    """Every submission record of the grid, oldest first (unreadable ones are skipped)."""
    root = submissions_root(grid)
    records = []
    for path in sorted(root.glob(f"[0-9][0-9][0-9]/{RECORD}")) if root.is_dir() else []:
        try:
            record = read_json(path, what="submission record")
        except OSError:
            continue
        records.append(_checked_record(record, path))
    return records


def _checked_record(record, path: Path) -> dict:
    """A submission record in the shape `grid status` reads, else InvalidInput naming the file (65)."""
    arrays = record.get("arrays") if isinstance(record, dict) else None
    well_formed = isinstance(arrays, list) and all(
        isinstance(a, dict) and isinstance(a.get("cells", []), list)
        and all(isinstance(c, str) for c in a.get("cells", []))
        and isinstance(a.get("job_id"), str | int | type(None)) and isinstance(a.get("class", ""), str)
        for a in arrays) and record.get("backend", "slurm") in BACKENDS
    if not well_formed:
        raise InvalidInput(f"submission record {path} is damaged: its arrays are not a list of "
                           "{job_id, class, cells}, or it names no known backend",
                           hint="restore it from a copy, or move its folder aside and `segbook grid resubmit` "
                                "what it covered")
    return {**record, "folder": str(path.parent)}
