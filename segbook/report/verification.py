"""Does each receipt still match the files of its run folder? (segbook.verify.check_files)

Three states, shown in every table of the report:
  verified      every hash the receipt records was recomputed from its files and agrees;
  UNVERIFIED    a hash differs, a file is missing, or the receipt cannot be checked at all --
                such a cell is never counted as reproduced, and the report says so at the top;
  not checked   the report was built with --no-verify.
The manifests folder (for the dataset locks) is the caller's, from its settings: never the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VERIFIED, UNVERIFIED, NOT_CHECKED = "verified", "UNVERIFIED", "not checked"


@dataclass(frozen=True)
class Verification:
    status: str
    detail: str = ""  # what differs, with the recorded and found values (UNVERIFIED)
    short: str = ""  # what differs, names only (the page's banner)


def verify_receipt(path: Path, manifests_dir: Path | None) -> Verification:
    """Recompute the receipt's hashes from its run folder. Never raises for a bad run folder."""
    from segbook.verify import check_files  # noqa: PLC0415 - imports torch; only when verifying

    try:
        findings = check_files(Path(path), manifests_dir=manifests_dir)
    except Exception as exc:  # any failure to check is reported, not raised
        reason = f"cannot be checked: {exc.__class__.__name__}: {exc}"
        return Verification(UNVERIFIED, reason, reason)
    bad = [f for f in findings if not f.ok]
    if not findings:
        return Verification(UNVERIFIED, "the receipt records no hashes to check", "no hashes to check")
    if bad:
        shown = "; ".join(f.describe() for f in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        names = ", ".join(f.what for f in bad[:3]) + (" ..." if len(bad) > 3 else "")
        return Verification(UNVERIFIED, f"{len(bad)} of {len(findings)} hashes differ: {shown}",
                            f"{len(bad)} of {len(findings)} hashes differ ({names})")
    return Verification(VERIFIED, f"{len(findings)} hashes agree")


def verify_receipts(paths: list[str], *, enabled: bool, manifests_dir: Path | None,
                    progress=lambda message: None) -> dict[str, Verification]:
    """Receipt path -> its verification (NOT_CHECKED for all when not `enabled`)."""
    if not enabled:
        return {p: Verification(NOT_CHECKED) for p in paths}
    out = {}
    for index, path in enumerate(paths, 1):
        progress(f"verify {index}/{len(paths)}: {path}")
        out[path] = verify_receipt(Path(path), manifests_dir)
    return out
