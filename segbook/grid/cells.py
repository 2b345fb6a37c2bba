"""A cell of the grid: one dataset x one configuration x one fold = one `segbook finetune`.

Its run folder is the one `segbook finetune` writes (segbook.core.layout.RunLayout), so the grid
never keeps state of its own about a cell: the receipt and run_state.json there say it all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segbook.core.configurations import Configuration, all_trainer_configurations, configuration_from_name
from segbook.core.layout import RunLayout
from segbook.report.receipts import CONFIG_TO_PAPER, PAPER_KEYS

FOLDS = ("all", "0", "1", "2", "3", "4")  # "all": train on every training case (the SegBook protocol)
# the paper's seven, in the paper's column order
PAPER_CONFIGS = tuple(name for key in PAPER_KEYS for name, paper in CONFIG_TO_PAPER.items() if paper == key)
# then the others (STU-Net-S), scratch before fine-tuned as in the paper's columns
_OTHERS = (c.name for c in all_trainer_configurations() if c.name not in PAPER_CONFIGS)
CONFIG_NAMES = PAPER_CONFIGS + tuple(sorted(_OTHERS, key=lambda name: (name.split("_")[0], name.endswith("_ft"))))

# Resource classes: one Slurm array each. S/B and default nnU-Net fit a 16-24 GB GPU at nnU-Net's
# planned patch; L needs about four times B's activation memory, H about nine times (width x depth,
# see segbook/data/throughput.yaml): they get their own arrays so a site can send them to bigger GPUs.
RESOURCE_CLASSES = ("small", "large", "huge")
_CLASS_OF_MODEL = {"nnunet": "small", "stunet-s": "small", "stunet-b": "small", "stunet-l": "large",
                   "stunet-h": "huge"}


@dataclass(frozen=True, order=True)
class Cell:
    task_id: str
    configuration: str  # a Configuration.name, e.g. stunet-b_ft
    fold: str  # one of FOLDS

    @property
    def config(self) -> Configuration:
        return configuration_from_name(self.configuration)

    @property
    def id(self) -> str:
        """Task009_Spleen/stunet-b_ft/all: how status, logs and errors name a cell."""
        return f"{self.task_id}/{self.configuration}/{self.fold}"

    @property
    def resource_class(self) -> str:
        return _CLASS_OF_MODEL[self.config.model]

    def layout(self, out_root: Path) -> RunLayout:
        return RunLayout(Path(out_root), self.task_id, self.configuration, self.fold)

    def run_dir(self, out_root: Path) -> Path:
        return self.layout(out_root).run_dir

    def run_lock(self, out_root: Path) -> Path:
        """The lock `segbook finetune` holds while it works on this cell (see segbook.api)."""
        from segbook.core.locks import lock_path  # noqa: PLC0415

        return lock_path(Path(out_root), self.layout(out_root).lock_name)


def config_rank(name: str) -> int:
    return CONFIG_NAMES.index(name)


def fold_rank(fold: str) -> int:
    return FOLDS.index(fold)
