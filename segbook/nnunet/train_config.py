"""What the kit tells its nnU-Net trainer: a small JSON file named by SEGBOOK_TRAIN_CONFIG.

nnU-Net builds trainers itself (from a class name), so the kit cannot pass arguments;
the trainer reads this file instead. No nnunetv2 import here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from segbook.core.errors import EnvironmentProblem
from segbook.core.fsio import atomic_write_json
from segbook.core.settings import load_settings


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

    def save(self, path: Path) -> Path:
        return atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls(**json.loads(Path(path).read_text()))


def load_from_environment() -> TrainConfig:
    path = load_settings().train_config
    if path is None or not path.is_file():
        raise EnvironmentProblem(
            "this trainer is meant to be started by segbook (SEGBOOK_TRAIN_CONFIG is not set)",
            hint="run `segbook finetune ...` instead of nnUNetv2_train",
        )
    return TrainConfig.load(path)
