"""`segbook verify RECEIPT`: offline re-check of what a run claims, section by section.

The outcome lists every finding; `raise_for_differences()` turns any that differ into the
Differences error (exit 1), so a caller can show them all first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core.errors import Differences
from segbook.core.progress import Progress, no_progress
from segbook.core.settings import Settings

if TYPE_CHECKING:
    from segbook.verify.finding import Finding

DEFAULT_TOLERANCE = 1e-6  # absolute, for --expected metrics


@dataclass(frozen=True)
class VerifyRequest:
    receipt: Path  # a receipt.json or its run folder
    against: tuple[Path, ...] = ()  # other runs' receipts that must agree on every hash
    expected: Path | None = None  # JSON with expected metrics
    tolerance: float = DEFAULT_TOLERANCE
    files: bool = True  # re-check the files and re-derive the metrics (else compare receipts only)


@dataclass(frozen=True)
class VerifySection:
    title: str  # "files", "against OTHER", "expected FILE"
    findings: list[Finding]

    @property
    def differing(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]


@dataclass(frozen=True)
class VerifyOutcome:
    receipt: Path
    sections: list[VerifySection]

    @property
    def differences(self) -> int:
        return sum(len(section.differing) for section in self.sections)

    def raise_for_differences(self) -> None:
        if self.differences:
            raise Differences(f"{self.differences} difference(s) found in {self.receipt}",
                              hint="the lines marked DIFFERS above say which hash or value differs")


def verify(request: VerifyRequest, settings: Settings, progress: Progress = no_progress) -> VerifyOutcome:
    """Every section's findings; raises InputMissing/InvalidInput for a missing or malformed receipt."""
    from segbook.verify import check_expected, check_files, compare_receipts  # noqa: PLC0415 - numpy on use

    sections = []
    if request.files:
        sections.append(VerifySection("files", check_files(request.receipt, progress,
                                                           manifests_dir=settings.manifests_dir)))
    for other in request.against:
        sections.append(VerifySection(f"against {other}", compare_receipts(request.receipt, other)))
    if request.expected is not None:
        sections.append(VerifySection(f"expected {request.expected}",
                                      check_expected(request.receipt, request.expected, request.tolerance)))
    return VerifyOutcome(request.receipt, sections)
