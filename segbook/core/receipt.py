"""The receipt: one JSON file per run that says what was done, with what, and what came out.

Paths inside are relative to the run folder, so a run folder can be moved or archived and
`segbook verify` still finds everything.
"""

from __future__ import annotations

from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput
from segbook.core.fsio import atomic_write_json
from segbook.core.timefmt import now_iso
from segbook.core.untrusted import read_json

SCHEMA = "segbook-receipt/1"
RECEIPT_NAME = "receipt.json"
REQUIRED_KEYS = ("schema", "kit", "dataset", "configuration", "hashes", "files", "metrics")


def write_receipt(run_dir: Path, receipt: dict) -> Path:
    body = {"schema": SCHEMA, "created": now_iso(), **receipt}
    return atomic_write_json(run_dir / RECEIPT_NAME, body)


def read_receipt_json(path: Path) -> dict:
    """The receipt's JSON object, checked for the schema only (segbook report reads this way and
    names each missing block itself); InvalidInput naming the file otherwise."""
    try:
        data = read_json(Path(path))
    except InvalidInput as exc:
        raise InvalidInput(f"cannot read receipt: {exc.message}", hint=exc.hint) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read receipt {path}: {exc.__class__.__name__}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InvalidInput(f"{path} is not a {SCHEMA} receipt (schema: "
                           f"{data.get('schema') if isinstance(data, dict) else type(data).__name__})")
    return data


def load_receipt(path: Path) -> dict:
    """A complete receipt (every top-level block present), from a file or its run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / RECEIPT_NAME
    if not path.is_file():
        raise InputMissing(f"no receipt at {path}", hint="pass a receipt.json or the run folder holding one")
    receipt = read_receipt_json(path)
    missing = [k for k in REQUIRED_KEYS if k not in receipt]
    if missing:
        raise InvalidInput(f"{path} is not a complete {SCHEMA} receipt: missing {', '.join(missing)}")
    return receipt

