"""A training checkpoint carries the hash of its own content, checked before a run resumes from it.

torch does not check the CRC of the zip it writes, so a flipped bit in a tensor loads silently and
a deterministic run resumed from it ends with other weights while everything says OK. The kit's
trainer therefore seals every checkpoint it writes: a sha256 over every tensor (weights, optimizer
and grad-scaler state, by key path) and over everything else in it (epochs, logs, init args) as
canonical JSON. Resuming re-computes the seal; a checkpoint that does not match it, or has none,
is refused (InvalidInput, 65) instead of trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import torch

from segbook.core.errors import InvalidInput
from segbook.models.checkpoint import tensor_hash

INTEGRITY_KEY = "segbook_integrity"
INTEGRITY_FORMAT = "segbook-checkpoint-seal/1"
REDO_HINT = "pass --force to start the run over (the damaged checkpoint cannot be trusted)"


def _split(value, path: str, tensors: dict[str, torch.Tensor]):
    """The value's non-tensor skeleton; tensors go into `tensors` under their key path."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value
        return "<tensor>"
    if isinstance(value, Mapping):
        return {str(key): _split(item, f"{path}/{key}", tensors) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_split(item, f"{path}/{index}", tensors) for index, item in enumerate(value)]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars: their Python value, not repr
        return value.item()
    return value


def seal(checkpoint: Mapping) -> str:
    """The sha256 that `checkpoint` (without its own seal entry) must keep."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split({k: v for k, v in checkpoint.items() if k != INTEGRITY_KEY}, "", tensors)
    digest = hashlib.sha256(INTEGRITY_FORMAT.encode() + b"\n")
    digest.update(tensor_hash(tensors).encode())
    digest.update(json.dumps(skeleton, sort_keys=True, default=repr, allow_nan=True).encode())
    return digest.hexdigest()


def sealed(checkpoint: dict) -> dict:
    """`checkpoint` with its seal added (what the trainer saves)."""
    return {**checkpoint, INTEGRITY_KEY: {"format": INTEGRITY_FORMAT, "sha256": seal(checkpoint)}}


def check_seal(checkpoint: Mapping, path: str | Path) -> None:
    """InvalidInput unless `checkpoint` carries a seal and still matches it."""
    recorded = checkpoint.get(INTEGRITY_KEY)
    if not isinstance(recorded, Mapping) or recorded.get("format") != INTEGRITY_FORMAT:
        raise InvalidInput(f"checkpoint {path} carries no segbook seal: it was not written by this kit's "
                           "trainer, or was edited", hint=REDO_HINT)
    if recorded.get("sha256") != seal(checkpoint):
        raise InvalidInput(f"checkpoint {path} is damaged: its content no longer matches the hash it was "
                           "written with (a flipped bit, a bad disk, or an edit)", hint=REDO_HINT)
