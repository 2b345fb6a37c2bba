"""The receipt: one JSON file per run that says what was done, with what, and what came out.

Paths inside are relative to the run folder, so a run folder can be moved or archived and
`segbook verify` still finds everything.
"""

from __future__ import annotations

import json
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput
from segbook.core.fsio import atomic_write_json
from segbook.core.timefmt import now_iso

SCHEMA = "segbook-receipt/1"
RECEIPT_NAME = "receipt.json"
REQUIRED_KEYS = ("schema", "kit", "dataset", "configuration", "hashes", "files", "metrics")


def write_receipt(run_dir: Path, receipt: dict) -> Path:
    body = {"schema": SCHEMA, "created": now_iso(), **receipt}
    return atomic_write_json(run_dir / RECEIPT_NAME, body)


def load_receipt(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / RECEIPT_NAME
    if not path.is_file():
        raise InputMissing(f"no receipt at {path}", hint="pass a receipt.json or the run folder holding one")
    try:
        receipt = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(receipt, dict):
        raise InvalidInput(f"{path} is not a SegBook receipt ({SCHEMA}): not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in receipt]
    if receipt.get("schema") != SCHEMA or missing:
        raise InvalidInput(f"{path} is not a SegBook receipt ({SCHEMA})"
                           + (f": missing {', '.join(missing)}" if missing else ""))
    return receipt


def is_complete(run_dir: Path) -> bool:
    """A run is finished when its receipt exists and parses (written last, atomically)."""
    try:
        load_receipt(run_dir / RECEIPT_NAME)
    except (InputMissing, InvalidInput):
        return False
    return True
