"""Check a checkpoint file against its registry entry: size, file sha256, tensor hash.

Both hashes are checked on every use: the file hash catches any changed byte cheaply, the tensor
hash (over sorted keys, dtypes, shapes and values; see segbook.models.checkpoint) says the weights
are the pinned ones whatever pickle layout carried them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput
from segbook.core.hashing import sha256_file
from segbook.weights.registry import WeightsEntry

# outcomes of a check
VERIFIED = "verified"  # pinned, size and both hashes match
UNPINNED = "unpinned"  # the registry has no hashes for this checkpoint yet
MISMATCH = "mismatch"  # pinned, and the file differs


@dataclass(frozen=True)
class FileCheck:
    entry: WeightsEntry
    path: Path
    size: int
    file_sha256: str
    tensor_sha256: str | None  # None when the tensors were not read (quick check or size/sha mismatch)
    status: str
    problem: str = ""  # what differs, for a mismatch or an implausible size

    @property
    def ok(self) -> bool:
        return self.status == VERIFIED


def tensor_hash_of(path: Path) -> str:
    """Tensor hash of a checkpoint file (imports torch; only called when weights are checked)."""
    from segbook.models.checkpoint import checkpoint_tensor_hash  # noqa: PLC0415

    return checkpoint_tensor_hash(path)


def check_file(entry: WeightsEntry, path: Path, *, tensors: bool = True) -> FileCheck:
    """Compare `path` with `entry`. Raises InputMissing if there is no such file; a damaged
    checkpoint raises InvalidInput from the loader when its tensors are read."""
    path = Path(path)
    if not path.is_file():
        raise InputMissing(f"checkpoint {path} not found",
                           hint=f"fetch it with `segbook weights fetch {entry.scale}` or check the path")
    size = path.stat().st_size
    file_sha = sha256_file(path)
    problems = []
    if not entry.size_plausible(size):
        expected = entry.size_bytes if entry.size_bytes is not None else f"about {entry.published_size}"
        problems.append(f"size {size} bytes, expected {expected}")
    if entry.pinned and file_sha != entry.sha256:
        problems.append(f"file sha256 {file_sha[:16]}... differs from the pinned {entry.sha256[:16]}...")
    tensor_sha = None
    if tensors and not problems:  # a wrong size or file hash already decides; a torn file would not load
        tensor_sha = tensor_hash_of(path)
        if entry.pinned and tensor_sha != entry.tensor_sha256:
            problems.append(f"tensor hash {tensor_sha[:16]}... differs from the pinned "
                            f"{entry.tensor_sha256[:16]}...")
    if entry.pinned:
        status = MISMATCH if problems else VERIFIED
    else:
        status = UNPINNED
    return FileCheck(entry, path, size, file_sha, tensor_sha, status, "; ".join(problems))


def refusal(check: FileCheck) -> InvalidInput:
    """The error for a file that may not be used without --trust-unpinned."""
    name = check.path.name
    if check.status == MISMATCH:
        return InvalidInput(
            f"checkpoint {check.path} does not match the pinned STU-Net-{check.entry.scale} weights "
            f"({check.problem})",
            hint=f"fetch a fresh copy with `segbook weights fetch {check.entry.scale}`, or pass "
                 "--trust-unpinned to use it anyway (the receipt records that)")
    extra = f" ({check.problem})" if check.problem else ""
    return InvalidInput(
        f"checkpoint {name} is not pinned in the weights registry{extra}",
        hint=f"check where it came from, then `segbook weights pin {check.path}`; or pass "
             "--trust-unpinned to use it once (the receipt records that)")
