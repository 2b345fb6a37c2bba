"""What the kit's child processes (nnU-Net with the kit's trainer) tell the kit on stdout.

Two kinds of lines, each a prefix and one JSON object:
    SEGBOOK-PROGRESS {"epoch": 3, "epochs": 1000, "train_loss": ..., "seconds": ...}
    SEGBOOK-ERROR {"code": 65, "message": "...", "hint": "..."}
An error line is printed right before the child exits with that code, so the kit can report the
child's own two-line message instead of "nnU-Net failed".
"""

from __future__ import annotations

import json

PROGRESS_PREFIX = "SEGBOOK-PROGRESS "
ERROR_PREFIX = "SEGBOOK-ERROR "


def progress_line(record: dict) -> str:
    return PROGRESS_PREFIX + json.dumps(record)


def error_line(code: int, message: str, hint: str) -> str:
    return ERROR_PREFIX + json.dumps({"code": int(code), "message": message, "hint": hint})


def parse(line: str) -> tuple[str, dict] | None:
    """("progress"|"error", record) for a report line, None for any other output."""
    for kind, prefix in (("progress", PROGRESS_PREFIX), ("error", ERROR_PREFIX)):
        if line.startswith(prefix):
            try:
                record = json.loads(line[len(prefix):])
            except ValueError:
                return None
            return (kind, record) if isinstance(record, dict) else None
    return None
