"""`segbook grid plan|submit|resubmit|status|cancel|report`: the whole benchmark on a cluster (segbook.grid).

A cell is a dataset x configuration x fold, run as one `segbook finetune`; the grid folder holds
the grid file, the estimate and every submission. Nothing here imports torch or nnunetv2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core.progress import Progress, no_progress
from segbook.core.protocol import TrainingOptions
from segbook.core.settings import Settings
from segbook.grid.backend import BACKENDS  # noqa: F401 - the schedulers a grid can go to, for the CLI
from segbook.report.acceptance import DEFAULT_RULE

if TYPE_CHECKING:
    from segbook.grid.gridfile import Grid
    from segbook.grid.launch import CancelOutcome, SubmitOutcome
    from segbook.grid.status import CellStatus


@dataclass(frozen=True)
class PlanRequest(TrainingOptions):
    grid_dir: Path  # the grid folder to write
    out_root: Path | None = None  # every cell's output root (default: the settings')
    datasets: tuple[str, ...] = ("all",)  # terms as given: names, `all`, filters; each may be a comma list
    configs: tuple[str, ...] = ("paper",)
    folds: tuple[str, ...] = ("all",)
    data_file: Path | None = None  # YAML data map: dataset -> raw folder
    weights: tuple[tuple[str, Path], ...] = ()  # (scale, checkpoint) for the fine-tuned cells
    weights_dir: Path | None = None  # the registry's checkpoint files (default: the settings')
    trust_unpinned: bool = False
    force: bool = False  # replace an existing grid file (runs and submissions are kept)


@dataclass(frozen=True)
class PlanOutcome:
    grid: Grid
    n_datasets: int
    n_configs: int
    n_folds: int
    cost_lines: list[str]  # the estimate, one line each


def plan(request: PlanRequest, settings: Settings) -> PlanOutcome:
    """Choose the cells, check every one (all problems reported at once), write the grid file."""
    from segbook.catalog import load_catalog  # noqa: PLC0415 - PyYAML on use
    from segbook.grid import cost, selection  # noqa: PLC0415 - numpy on use
    from segbook.grid import plan as grid_plan  # noqa: PLC0415 - numpy on use
    from segbook.weights.registry import normalise_scale  # noqa: PLC0415 - numpy on use

    weights = {normalise_scale(scale): path for scale, path in request.weights}
    outcome = grid_plan.plan_grid(grid_plan.PlanRequest(
        grid_dir=request.grid_dir, out_root=request.out_root or settings.out_root,
        datasets=selection.split_terms(request.datasets), configs=selection.split_terms(request.configs),
        folds=selection.split_terms(request.folds), data_file=request.data_file, weights=weights,
        weights_dir=request.weights_dir or settings.weights_dir, trust_unpinned=request.trust_unpinned,
        force=request.force, manifests_dir=settings.manifests_dir, **request.as_dict()),
        catalog=load_catalog(settings.manifests_dir))
    return PlanOutcome(outcome.grid, outcome.n_datasets, outcome.n_configs, outcome.n_folds,
                       cost.render(outcome.cost))


@dataclass(frozen=True)
class SubmitRequest:
    grid_dir: Path
    backend: str = "slurm"
    profile: Path | None = None  # site profile YAML
    runtime: str | None = None  # native | apptainer | podman | docker; None: native (resubmit: as last time)
    image: str | None = None  # SIF file or image reference (resubmit: as last time)
    allow_image_mismatch: bool = False
    docker_host: str | None = None
    dry_run: bool = False  # render the scripts and commands; write and submit nothing


def submit(request: SubmitRequest, settings: Settings, progress: Progress = no_progress) -> SubmitOutcome:
    """One job array per resource class for the cells not done, queued or running."""
    return _submit(request, settings, progress, only_failed=False)


def resubmit(request: SubmitRequest, settings: Settings, progress: Progress = no_progress) -> SubmitOutcome:
    """The failed cells, and the interrupted ones nothing will continue. Runtime, image and profile
    default to the last submission's, unless a runtime is given."""
    if request.runtime is None:
        request = _as_last_submitted(request)
    return _submit(request, settings, progress, only_failed=True)


def _as_last_submitted(request: SubmitRequest) -> SubmitRequest:
    from segbook.grid.gridfile import read_grid  # noqa: PLC0415 - numpy on use
    from segbook.grid.submit import load_submissions  # noqa: PLC0415 - numpy on use

    last = (load_submissions(read_grid(request.grid_dir)) or [{}])[-1]
    recorded = str(last.get("profile") or "")
    profile = request.profile or (Path(recorded) if recorded.startswith("/") else None)  # not "(kit defaults)"
    return replace(request, runtime=last.get("runtime"), image=request.image or last.get("image"), profile=profile)


def _submit(request: SubmitRequest, settings: Settings, progress: Progress, only_failed: bool) -> SubmitOutcome:
    from segbook.grid import launch  # noqa: PLC0415 - numpy on use

    return launch.submit_grid(launch.SubmitRequest(
        grid_dir=request.grid_dir, backend=request.backend, profile=request.profile,
        runtime=request.runtime or "native", image=request.image, allow_image_mismatch=request.allow_image_mismatch,
        docker_host=request.docker_host, dry_run=request.dry_run, only_failed=only_failed,
        lock_mode=settings.lock_mode, manifests_dir=settings.manifests_dir,
        podman_runtime=settings.podman_runtime), progress)


def cancel(grid_dir: Path, settings: Settings, dry_run: bool = False) -> CancelOutcome:
    """Cancel the grid's waiting and running tasks through its backend; run folders are kept."""
    from segbook.grid import launch  # noqa: PLC0415 - numpy on use

    return launch.cancel_grid(grid_dir, dry_run=dry_run)


@dataclass(frozen=True)
class StatusOutcome:
    grid: Grid
    cells: list[CellStatus]
    summary: str  # one line: counts by state, and what Slurm said


def status(grid_dir: Path, settings: Settings) -> StatusOutcome:
    """Every cell's state, from the run folders plus squeue/sacct when Slurm answers."""
    from segbook.grid.gridfile import read_grid  # noqa: PLC0415 - numpy on use
    from segbook.grid.status import grid_status, summary_line  # noqa: PLC0415 - numpy on use

    the_grid = read_grid(grid_dir)
    cells, view = grid_status(the_grid, settings.lock_mode)
    return StatusOutcome(the_grid, cells, summary_line(cells, view))


@dataclass(frozen=True)
class ReportOutcome:
    target: Path  # the folder written
    files: list[str]
    headline: dict  # cells, done, reproduce ("k/n"), unverified, rule


def report(grid_dir: Path, settings: Settings, *, tolerance: float, out_dir: Path | None = None,
           force: bool = False, rule: str = DEFAULT_RULE, verify: bool = True,
           progress=lambda message: None) -> ReportOutcome:
    """The reproduction ledger: our Dice next to the paper's for every cell (default: GRID/report)."""
    from segbook.catalog import load_catalog  # noqa: PLC0415 - PyYAML on use
    from segbook.grid.gridfile import read_grid  # noqa: PLC0415 - numpy on use
    from segbook.grid.ledger import build_ledger, write_ledger  # noqa: PLC0415 - numpy on use
    from segbook.grid.status import grid_status  # noqa: PLC0415 - numpy on use

    the_grid = read_grid(grid_dir)
    cells, _ = grid_status(the_grid, settings.lock_mode)
    ledger = build_ledger(the_grid, cells, load_catalog(settings.manifests_dir), tolerance, rule=rule, verify=verify,
                          progress=progress)
    target = out_dir or the_grid.folder / "report"
    files = write_ledger(target, the_grid, ledger, tolerance, force)
    return ReportOutcome(target, files, ledger.headline)
