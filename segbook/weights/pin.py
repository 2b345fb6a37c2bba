"""`segbook weights pin FILE`: record a checkpoint's hashes in the registry, with who and when."""

from __future__ import annotations

import os
import pwd
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput, OutputBlocked
from segbook.core.hashing import sha256_file
from segbook.weights.registry import WeightsEntry, WeightsRegistry


@dataclass(frozen=True)
class PinResult:
    entry: WeightsEntry
    changed: bool  # False when the file was already pinned with exactly these hashes


def who_am_i() -> str:
    """user@host from the password database (not from environment variables)."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # an arbitrary container uid has no passwd entry
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _read_weights(path: Path):
    """Tensor hash and the scale the tensors look like (one load of the file)."""
    from segbook.models import checkpoint  # noqa: PLC0415 - torch only when pinning

    state_dict = checkpoint.load_checkpoint_state_dict(path)
    guess = getattr(checkpoint, "guess_scale", None)
    return checkpoint.tensor_hash(state_dict), (guess(state_dict) if guess else None)


def pin_file(registry: WeightsRegistry, entry: WeightsEntry, path: Path, *, force: bool = False,
             pinned_by: str | None = None, now: datetime | None = None) -> PinResult:
    """Hash `path`, check it is a plausible copy of `entry`, and write the pin into the registry file."""
    path = Path(path)
    if not path.is_file():
        raise InputMissing(f"checkpoint {path} not found", hint="check the path")
    size = path.stat().st_size
    if entry.size_bytes is None and not entry.size_plausible(size):
        raise InvalidInput(
            f"{path} has {size} bytes; STU-Net-{entry.scale} ({entry.file}) is published as "
            f"{entry.published_size}", hint="the download is probably truncated; fetch it again")
    tensor_sha, looks_like = _read_weights(path)
    if looks_like is not None and looks_like != entry.scale:
        raise InvalidInput(f"{path} holds STU-Net-{looks_like} weights, not STU-Net-{entry.scale}",
                           hint=f"pin it with --scale {looks_like}, or pick the right file")
    file_sha = sha256_file(path)
    if entry.pinned:
        if (entry.sha256, entry.tensor_sha256, entry.size_bytes) == (file_sha, tensor_sha, size):
            return PinResult(entry, changed=False)
        if not force:
            raise OutputBlocked(
                f"STU-Net-{entry.scale} is already pinned to other hashes (by {entry.pinned_by or '?'} "
                f"at {entry.pinned_at or '?'})",
                hint="pass --force to replace the pin, if you are sure this copy is the right one")
    stamp = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
    pinned = replace(entry, sha256=file_sha, tensor_sha256=tensor_sha, size_bytes=size,
                     pinned_by=pinned_by or who_am_i(), pinned_at=stamp)
    registry.with_entry(pinned).save()
    return PinResult(pinned, changed=True)
