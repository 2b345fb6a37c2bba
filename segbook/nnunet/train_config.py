"""What the kit tells its nnU-Net trainer: a small JSON file named by SEGBOOK_TRAIN_CONFIG.

nnU-Net builds trainers itself (from a class name), so the kit cannot pass arguments;
the trainer reads this file instead. No nnunetv2 import here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from segbook.core.errors import EnvironmentProblem
from segbook.core.fsio import atomic_write_json
from segbook.core.settings import load_settings

DEFAULT_CHECKPOINT_MINUTES = 30.0


@dataclass(frozen=True)
class TrainConfig:
    configuration: str  # e.g. stunet-s_ft
    scale: str | None  # S/B/L/H, None for default nnU-Net
    init: str  # pretrained | scratch | default
    weights: str | None  # checkpoint to fine-tune from
    epochs: int
    iterations_per_epoch: int
    val_iterations_per_epoch: int
    initial_lr: float
    seed: int | None
    deterministic: bool
    threads: int
    data_workers: int
    run_validation: bool  # nnU-Net's own validation of the fold after training
    plans: str = "nnUNetPlans"  # nnU-Net plans identifier: nnUNetPlans or SegBookPlans (the paper's)
    # how often to checkpoint regardless of epochs; does not change results, so a resumed run
    # may use another value (see same_results_as)
    checkpoint_minutes: float = DEFAULT_CHECKPOINT_MINUTES

    def save(self, path: Path) -> Path:
        return atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls(**json.loads(Path(path).read_text()))

    def same_results_as(self, other: TrainConfig) -> bool:
        """Would a run with `other` produce what this one produces? (May it continue this run?)"""
        return replace(self, checkpoint_minutes=0) == replace(other, checkpoint_minutes=0)


@dataclass(frozen=True)
class TrainerContext:
    """What a trainer process learns from the kit: the config, where the run lives, drills."""

    config: TrainConfig
    run_dir: Path
    stop_after_iteration: int | None  # fault injection (SEGBOOK_STOP_AFTER_ITERATION)


def load_from_environment() -> TrainerContext:
    """The context of a trainer process the kit started (settings are read once, here)."""
    settings = load_settings()
    path = settings.train_config
    if path is None or not path.is_file():
        raise EnvironmentProblem(
            "this trainer is meant to be started by segbook (SEGBOOK_TRAIN_CONFIG is not set)",
            hint="run `segbook finetune ...` instead of nnUNetv2_train",
        )
    return TrainerContext(TrainConfig.load(path), path.resolve().parent, settings.stop_after_iteration)
