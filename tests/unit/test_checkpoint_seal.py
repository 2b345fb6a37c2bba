"""The seal a training checkpoint carries: one flipped bit in any tensor, or an edit, is caught."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from segbook.core.errors import InvalidInput
from segbook.models.checkpoint import read_training_checkpoint
from segbook.models.checkpoint_integrity import INTEGRITY_KEY, check_seal, seal, sealed
from segbook.models.official_format import atomic_torch_save

pytestmark = pytest.mark.unit


def _checkpoint() -> dict:
    weights = {"conv.weight": torch.arange(4096, dtype=torch.float32).reshape(64, 64), "conv.bias": torch.ones(64)}
    return {"network_weights": weights,
            "optimizer_state": {"state": {0: {"momentum_buffer": torch.full((64, 64), 0.5)}},
                                "param_groups": [{"lr": 0.01, "params": [0, 1], "nesterov": True}]},
            "logging": {"train_losses": [np.float64(0.5), np.float64(0.25)]},
            "current_epoch": 3, "init_args": {"fold": "all"}, "_best_ema": None}


def flip_a_tensor_bit(path, member_suffix: str = "data/0") -> None:
    """Flip one bit in the middle of a tensor's bytes inside torch's (uncompressed) zip."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(member_suffix))
    raw = bytearray(path.read_bytes())
    name_length = int.from_bytes(raw[info.header_offset + 26: info.header_offset + 28], "little")
    extra_length = int.from_bytes(raw[info.header_offset + 28: info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    raw[start + info.file_size // 2] ^= 0x04
    path.write_bytes(bytes(raw))


def test_a_sealed_checkpoint_reads_back_intact(tmp_path):
    path = atomic_torch_save(sealed(_checkpoint()), tmp_path / "checkpoint_latest.pth")
    check_seal(read_training_checkpoint(path), path)


def test_one_flipped_bit_loads_but_is_caught(tmp_path):
    path = atomic_torch_save(sealed(_checkpoint()), tmp_path / "checkpoint_latest.pth")
    flip_a_tensor_bit(path)
    damaged = read_training_checkpoint(path)  # torch itself does not notice
    with pytest.raises(InvalidInput, match="is damaged"):
        check_seal(damaged, path)


@pytest.mark.parametrize("edit", ["epoch", "lr", "loss", "no seal"])
def test_edits_outside_the_tensors_are_caught_too(edit):
    checkpoint = sealed(_checkpoint())
    if edit == "epoch":
        checkpoint["current_epoch"] = 4
    elif edit == "lr":
        checkpoint["optimizer_state"]["param_groups"][0]["lr"] = 0.1
    elif edit == "loss":
        checkpoint["logging"]["train_losses"][0] = np.float64(0.4)
    else:
        checkpoint.pop(INTEGRITY_KEY)
    with pytest.raises(InvalidInput, match="damaged|no segbook seal"):
        check_seal(checkpoint, "x.pth")


def test_the_seal_ignores_where_tensors_live_and_how_numpy_prints():
    a, b = _checkpoint(), _checkpoint()
    b["network_weights"] = {k: v.clone() for k, v in reversed(list(b["network_weights"].items()))}
    b["logging"]["train_losses"] = [0.5, 0.25]  # Python floats instead of numpy scalars
    assert seal(a) == seal(b)
