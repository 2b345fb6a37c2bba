"""Where every cell of a grid stands, from its run folder and, when Slurm answers, the queue.

    done       the receipt is complete and consistent (segbook.verify.done; mean Dice)
    broken     a receipt is there but damaged or inconsistent: never counted, never submitted;
               `segbook finetune … --force` on that cell runs it again
    running    Slurm runs its task, or a process holds the run's lock (a native run, too)
    queued     submitted, waiting in the queue
    preempted  interrupted (exit 75) k times and waiting to continue; "not queued" when nothing
               will continue it (requeue limit reached, or run by hand): `grid resubmit --failed`
    failed     the last invocation failed (its error line, its log), died without a word, or its
               Slurm job ended without running it
    pending    never submitted, nothing on disk

The run folder is the truth (receipt.json, run_state.json); the scheduler only adds "queued" vs
gone, and it is asked only through the grid's backend (segbook.grid.backend).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from segbook.core.locks import held_by
from segbook.core.run_state import read_run_state, read_train_state
from segbook.grid.backend import RUNNING, WAITING, Backend, TaskState, get_backend
from segbook.grid.gridfile import Grid
from segbook.grid.submit import load_submissions, log_dir
from segbook.verify.done import BROKEN, MISSING, check_cell

STATES = ("done", "broken", "running", "queued", "preempted", "failed", "pending")


@dataclass
class CellStatus:
    cell: str  # cell id
    task_id: str
    configuration: str
    fold: str
    state: str
    restarts: int = 0  # interruptions so far (preemptions, time limits, stops)
    mean_dice: float | None = None
    error: str | None = None
    log: str | None = None
    job: str | None = None  # <array job>_<task> of the latest submission
    detail: str = ""
    receipt: str | None = None
    in_queue: bool = False  # Slurm lists its task (waiting or running)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SlurmView:
    """Which cell went to which array task, and what the scheduler says about those tasks now."""
    jobs: dict[str, tuple[str, str, str]]  # cell id -> (array job id, task index, resource class)
    queue: dict | None  # (job, task) -> TaskState, None when the scheduler could not be asked
    accounting: dict  # (job, task) -> TaskState of ended tasks (Slurm: sacct; often empty)
    backend: Backend | None = None  # the backend that was asked (None: not asked)

    @property
    def array_jobs(self) -> set[str]:
        return {job[0] for job in self.jobs.values()}

    def task(self, cell_id: str) -> tuple[tuple[str, str, str] | None, TaskState | None, TaskState | None]:
        job = self.jobs.get(cell_id)
        if job is None:
            return None, None, None
        key = job[:2]
        return job, (self.queue or {}).get(key), self.accounting.get(key)


def _recorded_backend(records: list[dict]) -> Backend:
    """The backend the grid's submissions went to (the newest record names it; Slurm before it did)."""
    return get_backend(str(records[-1].get("backend", "slurm")) if records else "slurm")


def slurm_view(grid: Grid, ask_slurm: bool = True, backend: Backend | None = None) -> SlurmView:
    records = load_submissions(grid)
    jobs = {}
    for record in records:
        for array in record.get("arrays", []):
            if array.get("job_id"):
                for index, cell_id in enumerate(array.get("cells", [])):
                    jobs[cell_id] = (str(array["job_id"]), str(index), array.get("class", ""))
    view = SlurmView(jobs, None, {})
    if not (ask_slurm and view.array_jobs):
        return view
    view.backend = backend or _recorded_backend(records)
    view.queue, view.accounting = view.backend.queued(view.array_jobs), view.backend.finished(view.array_jobs)
    return view


def _progress(run_dir: Path) -> str:
    state = read_train_state(run_dir)
    if not state:
        return ""
    done = f"epoch {state.get('epoch')}/{state.get('epochs')}"
    return done + (f" + {state['iteration']} it" if state.get("iteration") else "")


def cell_status(grid: Grid, entry, view: SlurmView, lock_mode: str) -> CellStatus:
    cell = entry.cell
    run_dir = cell.run_dir(grid.out_root)
    status = CellStatus(cell.id, cell.task_id, cell.configuration, cell.fold, "pending")
    checked = check_cell(run_dir)
    if checked.state != MISSING:
        status.state, status.receipt = checked.state, str(checked.path)
        status.mean_dice = checked.mean_dice
        if checked.state == BROKEN:
            status.error = f"damaged receipt: {checked.reason}"
    history = read_run_state(run_dir)
    status.restarts = history.interruptions
    job, queued, accounted = view.task(cell.id)
    status.in_queue = queued is not None or (view.queue is None and bool(view.jobs) and cell.id in view.jobs)
    if job:
        status.job = f"{job[0]}_{job[1]}"
        status.log = str(log_dir(grid) / f"{job[2]}-{job[0]}_{job[1]}.out")
    if checked.state != MISSING:
        return status
    last = history.last
    lock_held = last is not None and last.outcome == "running" and held_by(cell.run_lock(grid.out_root),
                                                                           mode=lock_mode) is not None
    progress = _progress(run_dir)
    queue_known = view.queue is not None or not view.jobs  # nothing of this grid went to Slurm: nothing queued
    if (queued and queued.phase == RUNNING) or lock_held:
        status.state, status.detail = "running", progress
    elif queued and queued.phase == WAITING:
        status.state = "preempted" if status.restarts else "queued"
        reason = f"{queued.state.lower()} ({queued.reason})" if queued.reason not in ("", "None") else ""
        status.detail = "; ".join(p for p in (progress, reason) if p)
    elif last is not None and last.outcome == "failed":
        status.state, status.error = "failed", f"exit {last.exit_code}: {last.error}"
    elif last is not None and last.outcome == "running":
        status.state, status.error = "failed", "the process ended without a word (killed? out of memory?)"
    elif last is not None and last.outcome == "interrupted":
        note = "not queued: `segbook grid resubmit GRID --failed` continues it" if queue_known else \
            "Slurm not asked"
        status.state, status.detail = "preempted", "; ".join(p for p in (progress, note) if p)
    elif job and view.queue is not None:
        state = accounted.state if accounted else "gone from the queue"
        status.state, status.error = "failed", f"Slurm job {status.job} ended ({state}) before the cell started"
    elif job:
        status.state, status.detail = "queued", "submitted; Slurm not asked"
    if status.state == "failed":  # where to read why: Slurm's output of the task, else nnU-Net's log
        slurm_log = status.log if status.log and Path(status.log).exists() else None
        status.log = slurm_log or str(run_dir / "logs" / "nnunet.log")
    return status


def grid_status(grid: Grid, lock_mode: str, ask_slurm: bool = True,
                backend: Backend | None = None) -> tuple[list[CellStatus], SlurmView]:
    view = slurm_view(grid, ask_slurm, backend)
    return [cell_status(grid, entry, view, lock_mode) for entry in grid.entries], view


def summary_line(statuses: list[CellStatus], view: SlurmView) -> str:
    counts = Counter(s.state for s in statuses)
    parts = [f"{counts[s]} {s}" for s in STATES if counts[s]]
    requeues = sum(s.restarts for s in statuses)
    dice = [s.mean_dice for s in statuses if s.mean_dice is not None]
    line = f"{len(statuses)} cells: " + ", ".join(parts)
    if requeues:
        line += f"; {requeues} interruption(s) so far"
    if dice:
        line += f"; mean Dice of done cells {sum(dice) / len(dice):.4f}"
    if view.jobs and view.queue is None:
        line += "; Slurm could not be asked (squeue): states from the run folders only"
    return line


def needs_resubmit(status: CellStatus) -> bool:
    """Failed, or interrupted with nothing queued to continue it."""
    return status.state == "failed" or (status.state == "preempted" and not status.in_queue)


def needs_submit(status: CellStatus) -> bool:
    """What `grid submit` sends: never submitted, or in need of a resubmission."""
    return status.state == "pending" or needs_resubmit(status)
