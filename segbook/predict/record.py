"""predict_receipt.json: what `segbook predict` did, rewritten after every case (so a cut run continues).

It names the models (receipt and tensor hashes, whether they verified), the options, and per case the
content hash of every input file and of the prediction. A rerun with the same models and options skips
every case whose inputs and output still match their record; anything else in the way of a result is
refused without --force.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from segbook.core.errors import InvalidInput, OutputBlocked
from segbook.core.fsio import atomic_write_json
from segbook.core.untrusted import read_json

PREDICT_RECEIPT = "predict_receipt.json"
SCHEMA = "segbook-predict-receipt/1"


def what_was_asked(models: list[dict], options: dict) -> dict:
    """The part of a record two runs must share for one to continue the other."""
    return {"models": [{k: m[k] for k in ("receipt_sha256", "final_weights_tensor_sha256", "fold")} for m in models],
            "options": options}


def previous_record(output: Path) -> dict | None:
    path = output / PREDICT_RECEIPT
    if not path.is_file():
        return None
    try:
        record = read_json(path)  # the size, depth and type checks of every file the kit reads back
    except OSError as exc:
        raise InvalidInput(f"cannot read {path} ({type(exc).__name__})") from None
    if not isinstance(record, dict):
        record = {}
    if record.get("schema") != SCHEMA or not isinstance(record.get("cases"), dict):
        raise InvalidInput(f"{path} is not a predict receipt this kit wrote",
                           hint="choose another OUTPUT, or pass --force to predict every case again")
    return record


def refuse_other_request(record: dict, asked: dict, output: Path) -> None:
    if what_was_asked(record.get("models") or [], record.get("options") or {}) != asked:
        raise OutputBlocked(f"{output} holds predictions made with other models or options",
                            hint="choose another OUTPUT, or pass --force to replace them")


class PredictRecord:
    """The receipt being written: one case at a time, atomically."""

    def __init__(self, output: Path, header: dict, cases: dict | None = None):
        self.path = output / PREDICT_RECEIPT
        self.header = header
        self.cases: dict = dict(cases or {})

    def add(self, case_id: str, entry: dict) -> None:
        self.cases[case_id] = entry
        self.write(complete=False)

    def write(self, *, complete: bool) -> dict:
        record = {"schema": SCHEMA, "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **self.header,
                  "complete": complete, "cases": dict(sorted(self.cases.items()))}
        atomic_write_json(self.path, record)
        return record
