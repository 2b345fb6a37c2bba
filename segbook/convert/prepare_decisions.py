"""Prepare's deciding: the skip rule of segbook.core.stamps, asked twice.

1. Before converting: is the prepared folder already what this download, recipe and lock make?
   Then it is reused and nothing is converted (REUSE), else the download is converted (REDO).
2. After converting (the content is known): does the new conversion replace the folder (REDO),
   is the folder already this very content, e.g. prepared from a re-compressed download (REUSE:
   the new conversion is discarded), or would something else be overwritten without --force
   (REFUSE)?

And the lock's say: a conversion must match the pinned lock, whose groups of identical cases
decide the split before anything is converted. Pure functions of the stamp, the lock and what is
wanted; `intact` (the content check of segbook.convert.prepared_stamp, which may hash every file
but never writes) is asked only when all else says reuse. Nothing here writes: what a decision
implies (refreshing a stale fingerprint, installing, pinning) is done by segbook.convert.prepare.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from segbook.catalog.lock import LockData, LockMismatch, compare_locks, summarize
from segbook.core.errors import OutputBlocked
from segbook.core.stamps import CHANGED, REDO, Decision, decide

_BEFORE = ("raw", "recipe", "dataset_sha256")  # the stamp fields that say what made the folder
_AFTER = ("dataset_sha256",)  # once converted, only the content matters


def _made_from(stamp: dict | None, keys: tuple[str, ...]) -> dict | None:
    """The prepared stamp seen as core.stamps sees stamps (its fields predate `made_from`)."""
    return None if stamp is None else {"made_from": {key: stamp.get(key) for key in keys}}


def before_converting(stamp: dict | None, *, raw_print: str, recipe_sha: str, pinned_sha256: str | None,
                      pinning: bool, final: Path, intact: Callable[[], bool]) -> Decision:
    """REUSE (skip the conversion) or REDO (convert). Pinning, or no lock yet: always convert,
    since a lock is only ever written from a conversion made now."""
    if pinning or pinned_sha256 is None:
        return Decision(REDO, "pinning a lock: converted now")
    wanted = {"raw": raw_print, "recipe": recipe_sha, "dataset_sha256": pinned_sha256}
    return decide(_made_from(stamp, _BEFORE), wanted, output_present=final.is_dir(), may_replace=True,
                  intact=intact)


def after_converting(stamp: dict | None, *, dataset_sha256: str, final: Path, force: bool,
                     intact: Callable[[], bool]) -> Decision:
    """REUSE (keep the folder, drop the conversion), REDO (install the conversion) or REFUSE."""
    present = final.exists()
    return decide(_made_from(stamp, _AFTER), {"dataset_sha256": dataset_sha256}, output_present=present,
                  may_replace=force or not present, intact=intact)


def refusal(final: Path, decision: Decision) -> OutputBlocked:
    """The error for a REFUSE of after_converting."""
    if decision.reason == CHANGED:
        return OutputBlocked(f"{final} was changed since it was prepared: its files no longer match its stamp",
                             hint="pass --force to replace it with a fresh conversion")
    return OutputBlocked(f"{final} already holds a different prepared dataset",
                         hint="pass --force to replace it, or choose another --out")


def check_against_lock(expected: LockData, actual: LockData, lock_file: Path, manifest, lock: bool) -> None:
    """A conversion that differs from the pinned lock is refused (exit 1), every difference listed."""
    diffs = compare_locks(expected, actual)
    if diffs:
        hint = ("pass --force with --lock to re-pin the dataset" if lock else
                "your download differs from the pinned one; `segbook prepare ... --lock --force` re-pins")
        cases = len({d.case for d in diffs})
        raise LockMismatch(f"{manifest.task_id}: {len(diffs)} differences in {cases} cases from the lock "
                           f"{lock_file.name}: {summarize(diffs)}", diffs, hint=hint)


def pinned_groups(expected: LockData | None, case_ids: list[str]) -> tuple[tuple[str, ...], ...]:
    """The lock's groups of identical cases, restricted to the cases found (a changed download is
    caught by the lock comparison after conversion, with the groups the data itself has)."""
    if expected is None:
        return ()
    present = set(case_ids)
    kept = (tuple(c for c in g if c in present) for g in expected.groups)
    return tuple(g for g in kept if len(g) > 1)
