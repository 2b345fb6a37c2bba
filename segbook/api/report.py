"""`segbook report`: receipts -> paper-style tables, plots and one HTML page (segbook.report).

Importing this module imports segbook.report (numpy, not pandas): the acceptance rules and the
default tolerance are the command line's choices and defaults. pandas and matplotlib load only
when a report is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core.errors import UsageProblem
from segbook.core.progress import Progress, no_progress
from segbook.core.settings import Settings
from segbook.report import build_report
from segbook.report.acceptance import DEFAULT_RULE, RULES
from segbook.report.tables import DEFAULT_TOLERANCE_POINTS

if TYPE_CHECKING:
    from segbook.report.build import ReportOutcome

__all__ = ["DEFAULT_RULE", "DEFAULT_TOLERANCE_POINTS", "RULES", "ReportRequest", "ReportResult", "report"]


@dataclass(frozen=True)
class ReportRequest:
    receipts: tuple[Path, ...] = ()  # extra receipt files or folders, on top of OUT_ROOT/runs/
    out_root: Path | None = None  # default: the settings' output root
    out_dir: Path | None = None  # default: OUT_ROOT/report, or OUT_ROOT/paper-report with paper
    paper: bool = False  # the paper's per-dataset values alone
    tolerance: float = DEFAULT_TOLERANCE_POINTS  # |ours - paper| in DSC points that counts as reproduced
    rule: str = DEFAULT_RULE  # acceptance rule (RULES)
    verify: bool = True  # re-check every receipt against its run folder
    size_cuts: tuple[int, int] | None = None  # (small max, medium max) cases; default: the catalog's
    force: bool = False  # replace an existing report folder


@dataclass(frozen=True)
class ReportResult:
    target: Path  # the report folder written
    outcome: ReportOutcome  # files, warnings, receipts used, headline numbers


def report(request: ReportRequest, settings: Settings, progress: Progress = no_progress) -> ReportResult:
    """Write the report folder (all at once); raises InputMissing when there are no receipts."""
    if request.paper and request.receipts:
        raise UsageProblem("--paper builds the paper's tables alone; do not pass receipts with it")
    root = request.out_root or settings.out_root
    target = request.out_dir or root / ("paper-report" if request.paper else "report")
    outcome = build_report(target, receipts=request.receipts, out_root=None if request.paper else root,
                           paper=request.paper, tolerance=request.tolerance, size_cuts=request.size_cuts,
                           force=request.force, rule=request.rule, verify=request.verify and not request.paper,
                           manifests_dir=settings.manifests_dir, progress=progress)
    return ReportResult(target, outcome)
