"""Reports: receipts -> paper-style tables (CSV, Markdown), PNG plots and one HTML page.

    from segbook.report import build_report
    build_report(Path("segbook-out/report"), out_root=Path("segbook-out"))   # our runs vs the paper
    build_report(Path("paper-report"), paper=True)                           # the paper alone

No torch import; pandas and matplotlib are imported when a report is built. See docs/report.md.
"""

from segbook.report.build import ReportOutcome, build_report
from segbook.report.receipts import CONFIG_TO_PAPER, PAPER_KEYS, find_receipts, load_runs, read_receipt
from segbook.report.tables import DEFAULT_TOLERANCE_POINTS

__all__ = ["CONFIG_TO_PAPER", "DEFAULT_TOLERANCE_POINTS", "PAPER_KEYS", "ReportOutcome", "build_report",
           "find_receipts", "load_runs", "read_receipt"]
