"""Find the pre-trained checkpoint for a run and decide whether it may be used."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from segbook.catalog.loader import ManifestsDir
from segbook.core.errors import InputMissing
from segbook.weights.checks import MISMATCH, UNPINNED, check_file, refusal
from segbook.weights.registry import WeightsRegistry, load_registry


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    file_sha256: str
    tensor_sha256: str
    pinned: bool  # size, file sha256 and tensor hash all match the registry's pin
    trusted_unpinned: bool  # not pinned (or not matching), used because of --trust-unpinned
    source: str  # "registry" (found by its registered name in the weights folder) or "path" (--weights)
    scale: str = ""
    entry_file: str = ""

    def as_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _locate(registry: WeightsRegistry, scale: str, weights_path: Path | None,
            weights_dir: Path | None) -> tuple[Path, str]:
    entry = registry.for_scale(scale)
    if weights_path is not None:
        if not Path(weights_path).is_file():
            raise InputMissing(f"pre-trained weights {weights_path} not found",
                               hint="check the path given to --weights")
        return Path(weights_path), "path"
    if weights_dir is None:
        raise InputMissing(
            f"no pre-trained weights given for STU-Net-{entry.scale}",
            hint=f"pass --weights FILE, or set SEGBOOK_WEIGHTS_DIR to a folder holding {entry.file} "
                 f"(`segbook weights fetch {entry.scale} --dest DIR`; in a container: mount it at /weights)")
    candidate = Path(weights_dir) / entry.file
    if not candidate.is_file():
        raise InputMissing(
            f"{entry.file} not found in the weights folder {weights_dir}",
            hint=f"`segbook weights fetch {entry.scale} --dest {weights_dir}`, or pass --weights FILE")
    return candidate, "registry"


def resolve_pretrained(scale: str, *, weights_path: Path | None, weights_dir: Path | None,
                       trust_unpinned: bool, registry: WeightsRegistry | None = None,
                       manifests_dir: ManifestsDir = None) -> ResolvedWeights:
    """The checkpoint for STU-Net-`scale`, checked against its pin (size, file sha256, tensor hash).

    `weights_path` (--weights) wins over `weights_dir` (SEGBOOK_WEIGHTS_DIR / --weights-dir), where
    the registry's file name is looked up. An unpinned or mismatching file raises InvalidInput (65)
    unless `trust_unpinned`, in which case it is used and the result says so.
    Missing files raise InputMissing (66).
    """
    registry = registry or load_registry(manifests_dir=manifests_dir)
    entry = registry.for_scale(scale)
    path, source = _locate(registry, scale, weights_path, weights_dir)
    check = check_file(entry, path, tensors=True)
    if check.status in (UNPINNED, MISMATCH) and not trust_unpinned:
        raise refusal(check)
    tensor_sha = check.tensor_sha256
    if tensor_sha is None:  # a pinned file that already failed on size or sha256: hash it for the receipt
        from segbook.weights.checks import tensor_hash_of  # noqa: PLC0415

        tensor_sha = tensor_hash_of(path)
    return ResolvedWeights(path=path, file_sha256=check.file_sha256, tensor_sha256=tensor_sha,
                           pinned=check.ok, trusted_unpinned=not check.ok, source=source,
                           scale=entry.scale, entry_file=entry.file)
