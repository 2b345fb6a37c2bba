"""The benchmark's configurations: which network, which initialisation, which trainer.

SegBook compares seven: default nnU-Net, and STU-Net B/L/H trained from scratch or
fine-tuned from the TotalSegmentator weights. S is available too (the demo uses it).
"""

from __future__ import annotations

from dataclasses import dataclass

from segbook.core.errors import UsageProblem

MODELS = ("nnunet", "stunet-s", "stunet-b", "stunet-l", "stunet-h")
INITS = ("pretrained", "scratch")
LR_FINETUNE = 1e-3  # released fine-tuning recipe
LR_SCRATCH = 1e-2  # nnU-Net's default, also STU-Net from scratch
_PAPER_SCALE = {"b": "base", "l": "large", "h": "huge"}


@dataclass(frozen=True)
class Configuration:
    model: str  # nnunet | stunet-s|b|l|h
    init: str  # pretrained | scratch | default (nnunet)

    @property
    def scale(self) -> str | None:
        return self.model.split("-")[1].upper() if self.model.startswith("stunet-") else None

    @property
    def name(self) -> str:
        if self.model == "nnunet":
            return "nnunet"
        return f"{self.model}_{'ft' if self.init == 'pretrained' else 'scratch'}"

    @property
    def paper_key(self) -> str | None:
        """Column name of this configuration in the paper's tables (None for S)."""
        if self.model == "nnunet":
            return "nnunet"
        base = _PAPER_SCALE.get(self.model.split("-")[1])
        if base is None:
            return None
        return f"{base}_ft" if self.init == "pretrained" else base

    @property
    def trainer_name(self) -> str:
        if self.model == "nnunet":
            return "SegbookNNUNetTrainer"
        return f"SegbookSTUNetTrainer_{self.scale}_{'ft' if self.init == 'pretrained' else 'scratch'}"

    @property
    def initial_lr(self) -> float:
        return LR_FINETUNE if self.init == "pretrained" else LR_SCRATCH

    @property
    def needs_weights(self) -> bool:
        return self.init == "pretrained"


def parse_configuration(model: str, init: str) -> Configuration:
    model = model.lower()
    if model not in MODELS:
        raise UsageProblem(f"unknown model {model!r}", hint=f"choose one of: {', '.join(MODELS)}")
    if model == "nnunet":
        if init == "pretrained":
            raise UsageProblem("default nnU-Net has no pre-trained weights",
                               hint="use --init scratch with --model nnunet, or an STU-Net model")
        return Configuration(model, "default")
    if init not in INITS:
        raise UsageProblem(f"unknown --init {init!r}", hint="choose pretrained or scratch")
    return Configuration(model, init)


def configuration_from_name(name: str) -> Configuration:
    """Inverse of Configuration.name ('stunet-b_ft' -> stunet-b, pretrained)."""
    if name == "nnunet":
        return Configuration("nnunet", "default")
    model, _, kind = name.partition("_")
    return parse_configuration(model, "pretrained" if kind == "ft" else "scratch")


def all_trainer_configurations() -> list[Configuration]:
    configs = [Configuration("nnunet", "default")]
    configs += [Configuration(m, i) for m in MODELS[1:] for i in INITS]
    return configs


# The paper's vocabulary, derived once from the configurations above: the seven configurations in
# the paper's column order, their keys in the manifests' paper_dice, and the scratch/fine-tuned
# key pair per scale (the fine-tuning gain is the difference of the pair).
PAPER_CONFIGURATIONS = tuple(Configuration(m, i) for m, i in (
    ("nnunet", "default"), ("stunet-b", "scratch"), ("stunet-l", "scratch"), ("stunet-h", "scratch"),
    ("stunet-b", "pretrained"), ("stunet-l", "pretrained"), ("stunet-h", "pretrained")))
PAPER_KEYS = tuple(c.paper_key for c in PAPER_CONFIGURATIONS if c.paper_key is not None)
assert len(PAPER_KEYS) == len(PAPER_CONFIGURATIONS)  # none of the seven is S: none is dropped
CONFIG_TO_PAPER = {c.name: c.paper_key for c in PAPER_CONFIGURATIONS}  # S has no paper column
SCALES = {scale: (_PAPER_SCALE[scale.lower()], f"{_PAPER_SCALE[scale.lower()]}_ft") for scale in ("B", "L", "H")}
