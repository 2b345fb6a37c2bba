"""The one skip rule of every skippable stage (unpack, prepare, plan): reuse, redo or refuse.

A stage that made something writes a stamp beside it: a small JSON file naming what the output
was made from (``made_from``: content hashes, versions, choices; never paths or modification
times alone) plus whatever the stage wants to keep with it. Next time the stage asks ``decide``:

- the stamp is there, the output is there, ``made_from`` is what is wanted now (and, where the
  stage gives one, its ``intact`` check passes) -> REUSE;
- otherwise, when the stage may replace what is there (its own earlier output, or --force) -> REDO;
- otherwise -> REFUSE: something the kit did not make, made from other inputs, or changed since
  it was made would be overwritten (the stage raises OutputBlocked naming it).

Stamps are written atomically, after the output is complete, so a stamp never describes a
half-written output. Prepare passes ``intact``: its stamp holds every case's hash, and a folder
whose files no longer hash as stamped is not reused (segbook.convert.prepared_stamp).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from segbook.core.fsio import atomic_write_json

REUSE, REDO, REFUSE = "reuse", "redo", "refuse"
CHANGED = "changed since it was made"  # the reason of a made-alike output that fails its intact check


@dataclass(frozen=True)
class Decision:
    action: str  # REUSE | REDO | REFUSE
    reason: str


def read_stamp(path: Path) -> dict | None:
    """The stamp's JSON object, or None when absent, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_stamp(path: Path, made_from: dict, **kept) -> Path:
    """Stamp an output as complete and made from `made_from` (call it last)."""
    return atomic_write_json(Path(path), {"made_from": made_from, **kept})


def decide(stamp: dict | None, wanted: dict, *, output_present: bool, may_replace: bool,
           intact: Callable[[], bool] | None = None) -> Decision:
    """Reuse, redo or refuse (see the module doc). `intact` is asked only when all else says
    reuse: it may be expensive (prepare re-hashes a copied folder)."""
    made_alike = stamp is not None and output_present and stamp.get("made_from") == wanted
    if made_alike and (intact is None or intact()):
        return Decision(REUSE, "made from the same inputs")
    if not output_present and stamp is None:
        return Decision(REDO, "not made yet")
    if made_alike:
        reason = CHANGED
    elif stamp is not None:
        reason = "made from other inputs"
    else:
        reason = "incomplete (no stamp)" if may_replace else "holds something the kit did not stamp"
    return Decision(REDO if may_replace else REFUSE, reason)
