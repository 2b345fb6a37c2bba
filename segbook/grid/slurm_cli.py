"""The grid's Slurm backend: sbatch to submit, squeue and sacct to look, scancel to stop.

Always argv lists (no shell). squeue/sacct answer None when Slurm cannot be asked (not installed,
controller down, accounting disabled): status then says so and works from the run folders alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from segbook.core.errors import EnvironmentProblem
from segbook.grid.backend import RUNNING, WAITING, TaskKey, TaskState

# squeue states of a task that waits to (re)start, and of one that runs
SLURM_WAITING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESV_DEL_HOLD", "SPECIAL_EXIT",
           "SUSPENDED", "STOPPED", "RESIZING"}
SLURM_RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}
_TIMEOUT_S = 60


def require(command: str = "sbatch") -> str:
    found = shutil.which(command)
    if not found:
        raise EnvironmentProblem(f"{command} is not on PATH: this machine cannot submit to Slurm",
                                 hint="run it on the cluster's login node (module load slurm?), or use --dry-run "
                                      "to see the scripts and the sbatch lines")
    return found


def sbatch_argv(script: Path) -> list[str]:
    return ["sbatch", "--parsable", str(script)]


def submit_script(script: Path) -> str:
    """Submit; the array job id sbatch prints (`--parsable`: "<id>" or "<id>;<cluster>")."""
    argv = sbatch_argv(script)
    argv[0] = require("sbatch")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"sbatch did not answer within {_TIMEOUT_S} s",
                                 hint="is the Slurm controller up? `sinfo` should answer") from None
    job_id = proc.stdout.strip().split(";")[0]
    if proc.returncode != 0 or not job_id.isdigit():
        message = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
        raise EnvironmentProblem(f"sbatch refused {script.name}: {message}",
                                 hint="does Slurm answer here (`sinfo`)? then check the site profile (partition, "
                                      "account, qos, GPU syntax) against your site's documentation")
    return job_id


def _run(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _phase(state: str) -> str:
    return RUNNING if state in SLURM_RUNNING else WAITING if state in SLURM_WAITING else ""


def queued_tasks(array_jobs: set[str]) -> dict[TaskKey, TaskState] | None:
    """(array job id, task index) -> state, for this user's jobs squeue lists; None if squeue fails."""
    out = _run(["squeue", "--me", "--noheader", "--array", "--format=%F|%K|%T|%r"])
    if out is None:
        return None
    tasks = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0] in array_jobs:
            tasks[(parts[0], parts[1])] = TaskState(parts[2], parts[3], _phase(parts[2]))
    return tasks


def finished_tasks(array_jobs: set[str]) -> dict[TaskKey, TaskState]:
    """(array job id, task index) -> final state from accounting (sacct); empty where it is disabled."""
    if not array_jobs:
        return {}
    out = _run(["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", ",".join(sorted(array_jobs)),
                "--format=JobID,State,ExitCode"])
    tasks = {}
    for line in (out or "").splitlines():
        job, _, rest = line.partition("|")
        state = rest.split("|")[0].split(" ")[0]
        array_job, sep, index = job.partition("_")
        if sep and index.isdigit():
            tasks[(array_job, index)] = TaskState(state)
    return tasks


def cancel_jobs(array_jobs: set[str]) -> None:
    """scancel every task of these array jobs (waiting ones never start, running ones get TERM)."""
    if not array_jobs:
        return
    argv = [require("scancel"), *sorted(array_jobs)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"scancel did not answer within {_TIMEOUT_S} s",
                                 hint="is the Slurm controller up? `squeue --me` should answer") from None
    if proc.returncode != 0:
        message = (proc.stderr.strip() or f"exit {proc.returncode}").splitlines()[-1]
        raise EnvironmentProblem(f"scancel refused jobs {', '.join(sorted(array_jobs))}: {message}",
                                 hint="are they your jobs? `squeue --me` lists what you may cancel")


class SlurmBackend:
    """The grid's backend on Slurm (segbook.grid.backend.Backend)."""

    name = "slurm"
    requeue = ("the batch script requeues its own task (scontrol requeue) up to the site profile's requeue_limit; "
               "the requeued task runs the same cell, which continues from its checkpoint")

    def require(self) -> None:
        require("sbatch")

    def submit_argv(self, script: Path) -> list[str]:
        return sbatch_argv(script)

    def submit(self, script: Path) -> str:
        return submit_script(script)

    def queued(self, jobs: set[str]) -> dict[TaskKey, TaskState] | None:
        return queued_tasks(jobs)

    def finished(self, jobs: set[str]) -> dict[TaskKey, TaskState]:
        return finished_tasks(jobs)

    def cancel(self, jobs: set[str]) -> None:
        cancel_jobs(jobs)
