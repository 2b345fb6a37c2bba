"""Write checkpoints in nnU-Net's own on-disk formats (v1 ``.model`` and v2 ``.pth``).

The demo saves its briefly pre-trained STU-Net-S exactly as the released STU-Net weights are stored
(nnU-Net v1 format, numpy scalars in the training log included), so the kit's loader is exercised on
the real format. Writes are atomic: a temporary sibling, fsync, rename.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from segbook.core.errors import OutputBlocked
from segbook.core.fsio import atomic_write_with

# nnU-Net's SGD settings (both versions): momentum 0.99, Nesterov, weight decay 3e-5
_SGD_DEFAULTS = {"momentum": 0.99, "dampening": 0, "weight_decay": 3e-5, "nesterov": True,
                 "maximize": False, "foreach": None, "differentiable": False, "fused": None}


def _cpu_weights(state_dict: Mapping[str, torch.Tensor]) -> OrderedDict:
    return OrderedDict((key, value.detach().to("cpu").clone()) for key, value in state_dict.items())


def _sgd_state(num_params: int, lr: float) -> dict:
    """An SGD optimizer state_dict as nnU-Net writes it (momentum buffers left out: they are not
    needed to fine-tune and would double the file)."""
    return {"state": {}, "param_groups": [{"lr": float(lr), "initial_lr": float(lr), **_SGD_DEFAULTS,
                                           "params": list(range(num_params))}]}


def atomic_torch_save(obj, path: str | Path, *, overwrite: bool = False) -> Path:
    """torch.save into a temporary sibling, fsync, then rename onto ``path``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputBlocked(f"{path} already exists", hint="pass --force to replace it")
    return atomic_write_with(path, lambda handle: torch.save(obj, handle))


def _floats64(values: Sequence[float]) -> list:
    return [np.float64(v) for v in values]


def save_official_v1_checkpoint(state_dict: Mapping[str, torch.Tensor], path: str | Path, *,
                                epoch: int = 1, train_losses: Sequence[float] = (),
                                val_losses: Sequence[float] = (), val_metrics: Sequence[float] = (),
                                initial_lr: float = 1e-2, amp: bool = True,
                                overwrite: bool = False) -> Path:
    """Write weights as an nnU-Net v1 ``.model`` file, the format of the released STU-Net weights.

    Keys: ``epoch``, ``state_dict``, ``optimizer_state_dict``, ``lr_scheduler_state_dict`` (None:
    nnU-Net's poly schedule has no scheduler object), ``plot_stuff`` (train losses, val losses,
    val losses in train mode, val metrics: lists of numpy.float64), ``best_stuff`` and, with
    ``amp``, ``amp_grad_scaler``.
    """
    weights = _cpu_weights(state_dict)
    train = _floats64(train_losses)
    best_epoch = int(np.argmin(train)) if train else 0
    checkpoint = {
        "epoch": int(epoch),
        "state_dict": weights,
        "optimizer_state_dict": _sgd_state(len(weights), initial_lr),
        "lr_scheduler_state_dict": None,
        "plot_stuff": (train, _floats64(val_losses), [], _floats64(val_metrics)),
        "best_stuff": (best_epoch, min(train) if train else None, None),
    }
    if amp:
        checkpoint["amp_grad_scaler"] = {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                         "growth_interval": 2000, "_growth_tracker": 0}
    return atomic_torch_save(checkpoint, path, overwrite=overwrite)


def save_v2_checkpoint(state_dict: Mapping[str, torch.Tensor], path: str | Path, *,
                       trainer_name: str = "nnUNetTrainer", plans: Mapping | None = None,
                       configuration: str = "3d_fullres", fold: int | str = 0,
                       dataset_json: Mapping | None = None, current_epoch: int = 1,
                       train_losses: Sequence[float] = (), val_losses: Sequence[float] = (),
                       mean_fg_dice: Sequence[float] = (), initial_lr: float = 1e-2,
                       mirror_axes: tuple[int, ...] = (0, 1, 2), overwrite: bool = False) -> Path:
    """Write weights as an nnU-Net v2 ``.pth`` checkpoint (``network_weights`` + training state).

    The logging block holds what nnU-Net 2.8.1's logger holds: numpy.float32 losses,
    numpy.float64 Dice values (and their EMA); learning rates and epoch timestamps (plain floats
    in nnU-Net) are left empty.
    """
    weights = _cpu_weights(state_dict)
    dice = _floats64(mean_fg_dice)
    ema: list = []
    for value in dice:
        ema.append(value if not ema else ema[-1] * 0.9 + 0.1 * value)
    logging = {
        "mean_fg_dice": dice, "ema_fg_dice": ema, "dice_per_class_or_region": [[v] for v in dice],
        "train_losses": [np.float32(v) for v in train_losses],
        "val_losses": [np.float32(v) for v in val_losses],
        # not recorded by the kit's callers; left empty rather than invented
        "lrs": [], "epoch_start_timestamps": [], "epoch_end_timestamps": [],
    }
    checkpoint = {
        "network_weights": weights,
        "optimizer_state": _sgd_state(len(weights), initial_lr),
        "grad_scaler_state": None,
        "logging": logging,
        "_best_ema": max(ema) if ema else None,
        "current_epoch": int(current_epoch),
        "init_args": {"plans": dict(plans or {}), "configuration": configuration, "fold": fold,
                      "dataset_json": dict(dataset_json or {}), "device": torch.device("cpu")},
        "trainer_name": trainer_name,
        "inference_allowed_mirroring_axes": tuple(mirror_axes),
    }
    return atomic_torch_save(checkpoint, path, overwrite=overwrite)
