"""The seam between the grid and the scheduler that runs its cells.

A backend does four things, and nothing else in the grid talks to a scheduler:

    submit(script)        hand one array (one script, N tasks) over; answer its job id
    queued(jobs)          (job id, task index) -> TaskState for the tasks still waiting or running;
                          None when the scheduler cannot be asked (then the run folders alone decide)
    finished(jobs)        (job id, task index) -> TaskState of tasks that ended, where it keeps a record
    cancel(jobs)          stop those arrays' waiting and running tasks

and defines REQUEUE: what happens to a task that exits 75 (checkpointed, interrupted). Cells are
one `segbook finetune` each, so a backend never learns what a cell is: it runs argv files.

Only Slurm is implemented (slurm_cli.SlurmBackend). docs/hpc.md says what another backend (Kubernetes Indexed
Jobs, say) would implement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from segbook.core.errors import UsageProblem

WAITING, RUNNING = "waiting", "running"  # the two phases the grid distinguishes among queued tasks


@dataclass(frozen=True)
class TaskState:
    state: str  # the scheduler's own word (PENDING, RUNNING, COMPLETED, ...), shown to the user
    reason: str = ""  # why it waits, in the scheduler's words
    phase: str = ""  # WAITING, RUNNING, or "" for an ended task


TaskKey = tuple[str, str]  # (array job id, task index)


class Backend(Protocol):
    name: str
    requeue: str  # one sentence: what happens to a task that exits 75

    def require(self) -> None:
        """Raise EnvironmentProblem when this machine cannot submit."""

    def submit_argv(self, script: Path) -> list[str]:
        """The command that submits `script` (printed by --dry-run)."""

    def submit(self, script: Path) -> str:
        """Submit one array script; its job id."""

    def queued(self, jobs: set[str]) -> dict[TaskKey, TaskState] | None:
        """Waiting and running tasks of these jobs; None when the scheduler cannot be asked."""

    def finished(self, jobs: set[str]) -> dict[TaskKey, TaskState]:
        """Ended tasks of these jobs, where the scheduler keeps a record (may be empty)."""

    def cancel(self, jobs: set[str]) -> None:
        """Cancel every waiting and running task of these jobs."""


BACKENDS = ("slurm",)


def get_backend(name: str = "slurm") -> Backend:
    if name not in BACKENDS:
        raise UsageProblem(f"unknown --backend {name!r}", hint=f"one of {', '.join(BACKENDS)}")
    from segbook.grid.slurm_cli import SlurmBackend  # noqa: PLC0415 - it imports this module's types

    return SlurmBackend()
