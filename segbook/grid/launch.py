"""`segbook grid submit` / `resubmit`: which cells to send, checked, written, and handed to sbatch.

`submit` sends every cell that is not done, queued or running (so submitting twice never queues a
cell twice); `resubmit --failed` only the failed ones and those interrupted with nothing queued to
continue them. Inputs are checked again first (a raw folder may have gone since the plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segbook.catalog.loader import ManifestsDir
from segbook.core.container_run import host_limits
from segbook.core.errors import EnvironmentProblem, ExitCode, UsageProblem
from segbook.grid.backend import get_backend
from segbook.grid.commands import RUNTIMES, Runtime
from segbook.grid.gridfile import Grid, read_grid
from segbook.grid.images import ImageCheck, check_image
from segbook.grid.preflight import Problem, check_locks, check_raw_folders, raise_problems
from segbook.grid.profile import load_profile, time_hours
from segbook.grid.status import grid_status, needs_resubmit, needs_submit, slurm_view
from segbook.grid.submit import (
    PlannedArray,
    describe,
    next_submission_folder,
    plan_arrays,
    submit_arrays,
    write_submission,
)


@dataclass
class SubmitRequest:
    grid_dir: Path
    backend: str = "slurm"
    profile: Path | None = None
    runtime: str = "native"
    image: str | None = None
    allow_image_mismatch: bool = False
    docker_host: str | None = None
    dry_run: bool = False
    only_failed: bool = False
    lock_mode: str = "flock"
    manifests_dir: ManifestsDir = None  # the settings' (None: the kit's own manifests)
    podman_runtime: str | None = None  # the settings' OCI runtime for podman (None: detected)


@dataclass
class SubmitOutcome:
    grid: Grid
    folder: Path | None
    arrays: list[PlannedArray] = field(default_factory=list)
    job_ids: dict[str, str] = field(default_factory=dict)
    image: ImageCheck | None = None
    warnings: list[str] = field(default_factory=list)
    text: str = ""  # --dry-run: the scripts, sbatch lines and commands
    left_out: dict[str, int] = field(default_factory=dict)  # state -> cells not sent


def _recheck_inputs(grid: Grid, entries, manifests_dir: Path | None) -> None:
    from segbook.catalog import load_catalog  # noqa: PLC0415

    catalog = load_catalog(manifests_dir)
    manifests = list({e.cell.task_id: catalog.get(e.cell.task_id) for e in entries}.values())
    data_map = {e.cell.task_id: Path(e.raw) for e in entries if e.raw}
    problems = check_raw_folders(manifests, data_map, grid.folder / "grid.tsv") + check_locks(manifests)
    for weights in sorted({e.weights for e in entries if e.weights}):
        if not Path(weights).is_file():
            problems.append(Problem(ExitCode.INPUT_MISSING, "weights missing", weights))
    raise_problems(problems, hint="restore them (nothing was submitted), or plan the grid again")


def _runtime(request: SubmitRequest, apptainer: str, warnings: list[str]) -> tuple[Runtime, ImageCheck | None]:
    if request.runtime not in RUNTIMES:
        raise UsageProblem(f"unknown --runtime {request.runtime!r}", hint=f"one of {', '.join(RUNTIMES)}")
    if request.runtime == "native":
        if request.image:
            raise UsageProblem("--image only applies to --runtime apptainer, podman or docker")
        return Runtime("native"), None
    if not request.image:
        raise UsageProblem(f"--runtime {request.runtime} needs --image",
                           hint="a SIF file for apptainer, an image reference for podman/docker (docs/hpc.md)")
    image = str(Path(request.image).absolute()) if request.runtime == "apptainer" else request.image
    try:
        check = check_image(request.runtime, image, allow_mismatch=request.allow_image_mismatch,
                            docker_host=request.docker_host, apptainer=apptainer)
    except EnvironmentProblem as exc:
        if not request.dry_run:
            raise
        warnings.append(f"image labels not checked ({exc.message})")
        check = None
    mismatch = check is not None and not check.matches
    binary = apptainer if request.runtime == "apptainer" else request.runtime
    # this host's --ulimit/--runtime flags, as run.sh passes them: the tasks run where the grid is submitted
    # from, or on nodes set up alike (a site that differs sets SEGBOOK_PODMAN_RUNTIME)
    limits = host_limits(request.runtime, image, binary=binary, oci_runtime=request.podman_runtime)
    return Runtime(request.runtime, image, check.digest if check else None, mismatch, binary, limits), check


def requeue_warnings(grid: Grid, entries, profile) -> list[str]:
    """Cells whose estimated training spans more time-limited jobs than the requeue limit allows."""
    from segbook.grid.cost import estimate  # noqa: PLC0415

    warnings = []
    cost = estimate(entries, grid.settings.options.epochs, grid.settings.options.iterations_per_epoch)
    for config, c in cost.by_config.items():
        resource_class = next(e.cell.resource_class for e in entries if e.cell.configuration == config)
        limit = time_hours(profile.resources(resource_class).time)
        restarts = int(max(c.per_cell_hours) // limit) if limit else 0
        if restarts > profile.requeue_limit:
            warnings.append(f"{config} cells need about {max(c.per_cell_hours):.0f} GPU-hours ({cost.table.status}): "
                            f"{restarts} restarts at a {profile.resources(resource_class).time} time limit, more "
                            f"than requeue_limit {profile.requeue_limit}; raise it in the site profile")
    return warnings


def submit_grid(request: SubmitRequest, progress) -> SubmitOutcome:
    backend = get_backend(request.backend)
    grid = read_grid(request.grid_dir)
    profile = load_profile(request.profile)
    if not request.dry_run:
        backend.require()
    warnings: list[str] = []
    runtime, check = _runtime(request, profile.apptainer, warnings)
    statuses, view = grid_status(grid, request.lock_mode, backend=backend)
    if view.jobs and view.queue is None and not request.dry_run:
        raise EnvironmentProblem("squeue does not answer, so it is unknown which cells are still queued",
                                 hint="check the Slurm controller (`squeue --me`), then submit again")
    wanted = needs_resubmit if request.only_failed else needs_submit
    entries = [e for e, s in zip(grid.entries, statuses, strict=True) if wanted(s)]
    left_out: dict[str, int] = {}
    for s in statuses:
        if not wanted(s):
            left_out[s.state] = left_out.get(s.state, 0) + 1
    outcome = SubmitOutcome(grid, None, image=check, warnings=warnings, left_out=left_out)
    if not entries:
        return outcome
    _recheck_inputs(grid, entries, request.manifests_dir)
    outcome.warnings += requeue_warnings(grid, entries, profile)
    folder = next_submission_folder(grid)
    outcome.folder = folder
    outcome.arrays = plan_arrays(grid, entries, runtime, profile, folder)
    if request.dry_run:
        outcome.text = describe(outcome.arrays, folder, backend)
        return outcome
    write_submission(folder, outcome.arrays, runtime, profile, backend)
    progress(f"wrote {folder}")
    outcome.job_ids = submit_arrays(folder, outcome.arrays, runtime, profile, progress, backend)
    return outcome


@dataclass
class CancelOutcome:
    grid: Grid
    jobs: list[str]  # the array jobs cancelled
    tasks: int  # their tasks that were waiting or running


def cancel_grid(grid_dir: Path, dry_run: bool = False) -> CancelOutcome:
    """Cancel every waiting or running task of the grid's submissions (cells keep what they wrote:
    an interrupted cell continues from its checkpoint when it is submitted again)."""
    grid = read_grid(grid_dir)
    view = slurm_view(grid)  # the queue alone: no cell's run folder needs reading to cancel
    if view.jobs and view.queue is None:
        raise EnvironmentProblem("the scheduler does not answer, so it is unknown which tasks are queued",
                                 hint="check the Slurm controller (`squeue --me`), then cancel again")
    queue = view.queue or {}
    jobs = sorted({job for job, _ in queue})
    if jobs and not dry_run and view.backend is not None:
        view.backend.cancel(set(jobs))
    return CancelOutcome(grid, jobs, len(queue))
