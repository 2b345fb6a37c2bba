"""What the kit tells its nnU-Net trainer: a small JSON file named by SEGBOOK_TRAIN_CONFIG.

nnU-Net builds trainers itself (from a class name), so the kit cannot pass arguments;
the trainer reads this file instead. No nnunetv2 import here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from segbook.core.errors import EnvironmentProblem, InvalidInput
from segbook.core.fsio import atomic_write_json
from segbook.core.protocol import TrainingOptions, options_from_values
from segbook.core.settings import load_settings


@dataclass(frozen=True)
class TrainConfig:
    """The cell's TrainingOptions as given (`options`, unchanged), and what the kit derived from them."""

    configuration: str  # e.g. stunet-s_ft
    scale: str | None  # S/B/L/H, None for default nnU-Net
    init: str  # pretrained | scratch | default
    weights: str | None  # checkpoint to fine-tune from
    options: TrainingOptions
    val_iterations_per_epoch: int
    initial_lr: float
    seed: int | None  # options.seed in deterministic mode, else None (nothing seeded)
    threads: int  # the counts in effect (options' None resolved)
    data_workers: int
    run_validation: bool  # nnU-Net's own validation of the fold after training
    plans: str = "nnUNetPlans"  # nnU-Net plans identifier: nnUNetPlans or SegBookPlans (the paper's)

    def save(self, path: Path) -> Path:
        return atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """The config a run wrote; one from an older kit (or damaged) is InvalidInput, never a crash."""
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
            options = options_from_values(values.pop("options"), str(path))
            return cls(options=options, **values)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise InvalidInput(f"{path} is not a train config this kit wrote ({type(exc).__name__})",
                               hint="pass --force to start that run over") from None

    def same_results_as(self, other: TrainConfig) -> bool:
        """Would a run with `other` produce what this one produces? (May it continue this run?) Options
        that change no bits (the checkpoint timer, the device asked for) may differ."""
        def results(config: TrainConfig) -> tuple:
            return replace(config, options=TrainingOptions()), config.options.for_same_run()
        return results(self) == results(other)


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
