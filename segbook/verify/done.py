"""Is this cell done? One answer for `finetune`'s skip, `grid status`, `submit`, `resubmit` and the ledger.

A cell is done when its receipt is complete *and* consistent: every block verify needs is there
with the right types, the files it names are in the run folder, the split file hashes to what the
receipt says and covers exactly the predicted cases, and the mean Dice is a number in [0, 1].
That costs a few small reads per cell (a grid may hold thousands); re-deriving every hash is
`segbook verify`'s job, which `report` and `grid report` run too. A receipt that exists but fails
these checks makes the cell *broken*: never done, never skipped silently, redone only with --force.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput
from segbook.core.receipt import RECEIPT_NAME, load_receipt
from segbook.verify.fields import field
from segbook.verify.parts import read_split, receipt_parts

DONE, BROKEN, MISSING = "done", "broken", "missing"
BROKEN_HINT = "run the cell again with --force (it starts over), or restore the run folder from a copy"


@dataclass(frozen=True)
class CellReceipt:
    state: str  # DONE, BROKEN or MISSING
    path: Path
    receipt: dict | None = None  # the parsed receipt when DONE
    reason: str = ""  # why BROKEN
    mean_dice: float | None = None

    @property
    def done(self) -> bool:
        return self.state == DONE


def check_cell(run_dir: Path) -> CellReceipt:
    """The state of the receipt in `run_dir` (never raises for what the receipt holds)."""
    path = Path(run_dir) / RECEIPT_NAME
    if not path.exists() and not path.is_symlink():
        return CellReceipt(MISSING, path)
    try:
        receipt = load_receipt(path)
        mean_dice = _consistent(receipt, path)
    except (InputMissing, InvalidInput) as exc:
        return CellReceipt(BROKEN, path, reason=exc.message)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # broken, not a crash
        return CellReceipt(BROKEN, path, reason=f"{type(exc).__name__}: {exc}")
    return CellReceipt(DONE, path, receipt, mean_dice=mean_dice)


def _consistent(receipt: dict, path: Path) -> float:
    parts = receipt_parts(receipt, path)
    field(receipt, "configuration", dict, path)
    mean_dice = field(receipt, "metrics.summary.mean_dice", (int, float), path)
    if not math.isfinite(mean_dice) or not 0.0 <= mean_dice <= 1.0:
        raise InvalidInput(f"receipt {path}: metrics.summary.mean_dice = {mean_dice!r:.40} is not a Dice in [0, 1]")
    if not parts.predictions:
        raise InvalidInput(f"receipt {path} records no predictions")
    if sorted(parts.predictions) != sorted(parts.labels):
        raise InvalidInput(f"receipt {path}: the predicted cases are not the cases with a reference label")
    for what, file in [("split", parts.split_file), ("plans", parts.plans_file),
                       ("final weights", parts.weights_file), *((f"prediction {case}", f)
                                                                for case, f in sorted(parts.prediction_files.items()))]:
        if not file.is_file() or file.stat().st_size == 0:
            raise InvalidInput(f"receipt {path}: its {what} file {file.name} is missing or empty")
    split = read_split(parts.split_file)
    if split.sha256 != parts.split:
        raise InvalidInput(f"receipt {path}: split.json does not hash to the receipt's hashes.split")
    if sorted(split.test) != sorted(parts.predictions):
        raise InvalidInput(f"receipt {path}: the predicted cases are not the split's test cases")
    return float(mean_dice)
