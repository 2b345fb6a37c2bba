"""`segbook grid plan`: choose the cells, check all of them, write the grid file, estimate the cost.

All checks run before anything is written; every problem found is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segbook.catalog.loader import ManifestsDir
from segbook.core.errors import ExitCode, OutputBlocked
from segbook.core.fsio import atomic_write_text
from segbook.core.protocol import TrainingOptions
from segbook.grid import cost as grid_cost
from segbook.grid.datamap import load_data_map
from segbook.grid.gridfile import Grid, GridEntry, GridSettings, grid_file, write_grid
from segbook.grid.preflight import (
    Problem,
    check_locks,
    check_raw_folders,
    check_weights,
    raise_problems,
    unusable_path,
)
from segbook.grid.selection import make_cells, select_configs, select_datasets, select_folds

ESTIMATE_FILE = "estimate.txt"


@dataclass(frozen=True)
class PlanRequest(TrainingOptions):
    grid_dir: Path
    out_root: Path
    datasets: list[str] = field(default_factory=lambda: ["all"])
    configs: list[str] = field(default_factory=lambda: ["paper"])
    folds: list[str] = field(default_factory=lambda: ["all"])
    data_file: Path | None = None
    weights: dict[str, Path] = field(default_factory=dict)  # scale -> checkpoint
    weights_dir: Path | None = None
    trust_unpinned: bool = False
    force: bool = False
    manifests_dir: ManifestsDir = None  # the settings' (None: the kit's own manifests)


@dataclass
class PlanOutcome:
    grid: Grid
    cost: grid_cost.GridCost
    n_datasets: int
    n_configs: int
    n_folds: int


def plan_grid(request: PlanRequest, catalog=None, registry=None) -> PlanOutcome:
    if catalog is None:
        from segbook.catalog import load_catalog  # noqa: PLC0415

        catalog = load_catalog(request.manifests_dir)
    datasets, problems = select_datasets(request.datasets, catalog)
    configs, more = select_configs(request.configs)
    problems += more
    folds, more = select_folds(request.folds)
    problems += more
    data_map, more = load_data_map(request.data_file, catalog)
    problems += more
    cells, more = make_cells(datasets, configs, folds, catalog)
    problems += more
    manifests = list({m.task_id: m for m in datasets}.values())
    problems += check_raw_folders(manifests, data_map, request.data_file)
    problems += check_locks(manifests)
    # needs_weights: an STU-Net, which always has a scale (the `and` only tells mypy so)
    scales = sorted({c.config.scale for c in cells if c.config.needs_weights and c.config.scale}, key="SBLH".index)
    weights: dict[str, Path] = {}
    if scales:
        if registry is None:
            from segbook.weights.registry import load_registry  # noqa: PLC0415

            registry = load_registry(manifests_dir=request.manifests_dir)
        weights, more = check_weights(scales, request.weights, request.weights_dir, request.trust_unpinned, registry)
        problems += more
    out_root = Path(request.out_root).absolute()
    if unusable_path(out_root):
        problems.append(Problem(ExitCode.DATA_INVALID, "path with a tab or line break", f"--out {str(out_root)!r}"))
    raise_problems(problems, hint="fix every problem listed (nothing was written), then plan again")
    if grid_file(request.grid_dir).exists() and not request.force:
        raise OutputBlocked(f"{grid_file(request.grid_dir)} already exists",
                            hint="pass --force to plan it again (its submissions and the runs are kept), or "
                                 "choose another --grid folder")
    settings = GridSettings(out_root=str(out_root), trust_unpinned=request.trust_unpinned, options=request.options)
    entries = [GridEntry(c, str(data_map[c.task_id]) if c.task_id in data_map else None,
                         str(weights[c.config.scale]) if c.config.needs_weights and c.config.scale else None)
               for c in cells]
    estimate = grid_cost.estimate(entries, request.epochs, request.iterations_per_epoch)
    grid = write_grid(Path(request.grid_dir), settings, entries)
    atomic_write_text(Path(request.grid_dir) / ESTIMATE_FILE, "\n".join(grid_cost.render(estimate)) + "\n")
    return PlanOutcome(grid, estimate, len(manifests), len(set(configs)), len(set(folds)))
