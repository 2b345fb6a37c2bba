"""`segbook weights list|fetch|pin|verify`: the pre-trained STU-Net checkpoints (segbook.weights).

The registry (manifests/weights.yaml unless another file is given) names each checkpoint; the
weights folder is the one given, else the settings' (SEGBOOK_WEIGHTS_DIR).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core.errors import Differences, InputMissing, InvalidInput, UsageProblem
from segbook.core.progress import Progress, no_progress
from segbook.core.settings import Settings

if TYPE_CHECKING:
    from segbook.weights.checks import FileCheck
    from segbook.weights.fetch import FetchResult
    from segbook.weights.pin import PinResult
    from segbook.weights.registry import WeightsEntry, WeightsRegistry


def weights_folder(given: Path | None, settings: Settings) -> Path | None:
    return given or settings.weights_dir


def _required_folder(given: Path | None, settings: Settings) -> Path:
    folder = weights_folder(given, settings)
    if folder is None:
        raise UsageProblem("no weights folder given", hint="pass --dest DIR or set SEGBOOK_WEIGHTS_DIR")
    return folder


def _registry(path: Path | None, settings: Settings) -> WeightsRegistry:
    from segbook.weights.registry import load_registry  # noqa: PLC0415 - numpy on use

    return load_registry(path, settings.manifests_dir)


@dataclass(frozen=True)
class WeightsListing:
    registry: WeightsRegistry
    folder: Path | None  # None: no weights folder given or set
    present: dict[str, bool]  # file name -> it is in the folder (empty without a folder)


def list_weights(settings: Settings, *, registry: Path | None = None,
                 weights_dir: Path | None = None) -> WeightsListing:
    """The registry's checkpoints, and which of them the weights folder holds."""
    reg = _registry(registry, settings)
    folder = weights_folder(weights_dir, settings)
    present = {} if folder is None else {e.file: (folder / e.file).is_file() for e in reg.entries}
    return WeightsListing(reg, folder, present)


@dataclass(frozen=True)
class FetchRequest:
    scales: tuple[str, ...]  # S, B, L, H (or their names)
    registry: Path | None = None
    weights_dir: Path | None = None  # where to download into (default: the settings')
    url: str | None = None  # a mirror, for one checkpoint
    trust_unpinned: bool = False  # move an unpinned download into place
    force: bool = False  # replace a file that is there but does not verify
    max_bytes: int | None = None  # refuse a larger download (default: the entry's own limit)


def fetch(request: FetchRequest, settings: Settings, progress: Progress = no_progress,
          on_fetched: Callable[[FetchResult], None] = lambda result: None) -> list[FetchResult]:
    """Download, verify and move into place each checkpoint in turn; `on_fetched` hears of each
    as soon as it is in place (before the next one starts)."""
    from segbook.weights.fetch import fetch_entry  # noqa: PLC0415 - numpy on use

    if request.url and len(request.scales) > 1:
        raise UsageProblem("--url applies to one checkpoint at a time")
    reg = _registry(request.registry, settings)
    folder = _required_folder(request.weights_dir, settings)
    results = []
    for scale in request.scales:
        result = fetch_entry(reg.for_scale(scale), folder, trust_unpinned=request.trust_unpinned,
                             force=request.force, url=request.url, progress=progress, max_bytes=request.max_bytes)
        on_fetched(result)
        results.append(result)
    return results


@dataclass(frozen=True)
class PinOutcome:
    registry: Path  # the registry file written
    result: PinResult  # the entry as pinned; changed False when it already was


def pin(file: Path, settings: Settings, *, scale: str | None = None, registry: Path | None = None,
        force: bool = False) -> PinOutcome:
    """Record FILE's sha256 and tensor hash (and who/when) in the registry."""
    from segbook.weights.pin import pin_file  # noqa: PLC0415 - numpy on use

    reg = _registry(registry, settings)
    return PinOutcome(reg.path, pin_file(reg, reg.for_file(file, scale), file, force=force))


@dataclass(frozen=True)
class VerifyOutcome:
    checks: list[FileCheck]

    def raise_for_failure(self) -> None:
        """Differences (exit 1) when a file differs from its pin, else InvalidInput (65) when one is unpinned."""
        from segbook.weights.checks import MISMATCH, UNPINNED  # noqa: PLC0415 - numpy on use

        if any(c.status == MISMATCH for c in self.checks):
            raise Differences("a checkpoint differs from its pin",
                              hint="fetch a fresh copy with `segbook weights fetch SCALE --force`")
        if any(c.status == UNPINNED for c in self.checks):
            raise InvalidInput("a checkpoint is not pinned in the registry",
                               hint="check its origin, then `segbook weights pin FILE`")


def verify(settings: Settings, files: tuple[Path, ...] = (), *, scale: str | None = None,
           registry: Path | None = None, weights_dir: Path | None = None, quick: bool = False) -> VerifyOutcome:
    """Check FILES (else the registered checkpoints in the weights folder) against their pins."""
    from segbook.weights.checks import check_file  # noqa: PLC0415 - numpy on use

    if scale and len(files) != 1:
        raise UsageProblem("--scale applies to exactly one FILE")
    reg = _registry(registry, settings)
    targets: list[tuple[WeightsEntry, Path]]
    if files:
        targets = [(reg.for_file(f, scale), f) for f in files]
    else:
        folder = _required_folder(weights_dir, settings)
        targets = [(e, folder / e.file) for e in reg.entries if (folder / e.file).is_file()]
        if not targets:
            raise InputMissing(f"no registered checkpoints in {folder}",
                               hint="`segbook weights fetch S --dest DIR`, or name the files")
    return VerifyOutcome([check_file(entry, path, tensors=not quick) for entry, path in targets])
