"""What a grid costs before anything runs: GPU-hours per configuration and in total, and disk.

The numbers come from the throughput table shipped with the kit (segbook/data/throughput.yaml),
which says whether it holds measurements or estimates and how they were derived; the plan prints
that with the numbers. Raw downloads are measured (their size on disk).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from segbook.core.errors import InvalidInput
from segbook.grid.cells import CONFIG_NAMES

THROUGHPUT_FILE = Path(__file__).resolve().parents[1] / "data" / "throughput.yaml"
GB = 1e9


@dataclass(frozen=True)
class Throughput:
    status: str  # estimate | measured
    gpu: str
    anchor_seconds: float
    anchor_gmacs: float
    floor_seconds: float
    models: dict  # model -> {"gmacs", "parameters"}
    overhead_hours: dict
    gpu_memory_gb: dict
    disk: dict
    source: str

    def seconds_per_iteration(self, model: str) -> float:
        scaled = self.anchor_seconds * self.models[model]["gmacs"] / self.anchor_gmacs
        return max(self.floor_seconds, scaled)


def load_throughput(path: Path = THROUGHPUT_FILE) -> Throughput:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        anchor = data["anchor"]
        return Throughput(
            status=str(data["status"]), gpu=str(data["gpu"]), anchor_seconds=float(anchor["seconds_per_iteration"]),
            anchor_gmacs=float(data["models"][anchor["model"]]["gmacs"]),
            floor_seconds=float(data["floor_seconds_per_iteration"]), models=dict(data["models"]),
            overhead_hours=dict(data["overhead_hours"]), gpu_memory_gb=dict(data["gpu_memory_gb"]),
            disk=dict(data["disk"]), source=str(anchor["source"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"throughput table {path} is unreadable ({type(exc).__name__}: {exc})",
                           hint="restore segbook/data/throughput.yaml from the kit") from None


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder` (symlinks not followed)."""
    total, stack = 0, [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


@dataclass
class ConfigCost:
    configuration: str
    cells: int = 0
    gpu_hours: float = 0.0
    per_cell_hours: list[float] = field(default_factory=list)
    checkpoint_bytes: float = 0.0  # kept after the runs


@dataclass
class GridCost:
    table: Throughput
    epochs: int
    iterations_per_epoch: int
    by_config: dict[str, ConfigCost]
    raw_bytes: int
    data_bytes: float  # prepared + preprocessed copies under the output root
    peak_run_bytes: float  # the largest checkpoint set one running cell needs at once

    @property
    def gpu_hours(self) -> float:
        return sum(c.gpu_hours for c in self.by_config.values())

    @property
    def cells(self) -> int:
        return sum(c.cells for c in self.by_config.values())

    @property
    def checkpoint_bytes(self) -> float:
        return sum(c.checkpoint_bytes for c in self.by_config.values())


def estimate(entries, epochs: int, iterations_per_epoch: int, table: Throughput | None = None) -> GridCost:
    table = table or load_throughput()
    disk = table.disk
    by_config: dict[str, ConfigCost] = {}
    peak = 0.0
    for entry in entries:
        model = entry.cell.config.model
        hours = epochs * iterations_per_epoch * table.seconds_per_iteration(model) / 3600
        hours += table.overhead_hours[model]
        cost = by_config.setdefault(entry.cell.configuration, ConfigCost(entry.cell.configuration))
        cost.cells += 1
        cost.gpu_hours += hours
        cost.per_cell_hours.append(hours)
        per_checkpoint = table.models[model]["parameters"] * disk["checkpoint_bytes_per_parameter"]
        cost.checkpoint_bytes += per_checkpoint * disk["checkpoints_kept"]
        peak = max(peak, per_checkpoint * disk["checkpoints_peak"])
    raws = {e.raw for e in entries if e.raw}
    raw_bytes = sum(folder_bytes(Path(r)) for r in raws)
    data_bytes = raw_bytes * (disk["prepared_per_raw_byte"] + disk["preprocessed_per_raw_byte"])
    ordered = {name: by_config[name] for name in CONFIG_NAMES if name in by_config}
    return GridCost(table, epochs, iterations_per_epoch, ordered, raw_bytes, data_bytes, peak)


def _hours(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def render(cost: GridCost) -> list[str]:
    """The plan's cost table and the assumptions behind it, as printed lines."""
    t = cost.table
    label = "ESTIMATES (no GPU measurement; see below)" if t.status != "measured" else "from measurements"
    lines = [f"GPU-hours on {t.gpu}, {cost.epochs} epochs x {cost.iterations_per_epoch} iterations per cell, "
             f"{label}:",
             f"  {'configuration':<18}{'cells':>6}{'GPU-h/cell':>12}{'GPU-h':>12}{'checkpoints':>14}"]
    for c in cost.by_config.values():
        lines.append(f"  {c.configuration:<18}{c.cells:>6}{statistics.median(c.per_cell_hours):>12.1f}"
                     f"{_hours(c.gpu_hours):>12}{c.checkpoint_bytes / GB:>11.1f} GB")
    lines.append(f"  {'total':<18}{cost.cells:>6}{'':>12}{_hours(cost.gpu_hours):>12}"
                 f"{cost.checkpoint_bytes / GB:>11.1f} GB")
    scratch = cost.data_bytes + cost.checkpoint_bytes
    lines += [
        f"disk under the output root: {scratch / GB:.1f} GB = data {cost.data_bytes / GB:.1f} GB (converted copy "
        f"+ nnU-Net preprocessed, {t.disk['prepared_per_raw_byte'] + t.disk['preprocessed_per_raw_byte']:g}x the "
        f"{cost.raw_bytes / GB:.1f} GB of raw downloads, which are only read) + checkpoints kept "
        f"{cost.checkpoint_bytes / GB:.1f} GB; the largest cell holds up to {cost.peak_run_bytes / GB:.1f} GB of "
        "checkpoints at once while it ends",
        f"assumptions ({t.status}): one iteration of default nnU-Net takes {t.anchor_seconds:g} s ({t.source}); "
        f"other networks scale by their multiply-accumulates per patch (STU-Net S/B/L/H: "
        + "/".join(f"{t.seconds_per_iteration(m):.2f}" for m in ("stunet-s", "stunet-b", "stunet-l", "stunet-h"))
        + f" s, at least {t.floor_seconds:g} s for data loading); about the same on every dataset because nnU-Net "
        "plans batch x patch to a fixed memory budget; plus per-cell prediction/evaluation overhead. "
        "Table and derivation: segbook/data/throughput.yaml.",
    ]
    return lines
