"""Find and read run receipts into one table (one row per run)."""

from __future__ import annotations

import math
from pathlib import Path

from segbook.core.configurations import CONFIG_TO_PAPER, PAPER_KEYS, SCALES  # noqa: F401 - re-exported
from segbook.core.errors import InputMissing, InvalidInput
from segbook.core.receipt import RECEIPT_NAME, read_receipt_json

RUN_COLUMNS = ["task_id", "configuration", "paper_key", "dsc", "nsd", "hd95", "n_test_cases", "init",
               "epochs", "fold", "kit_version", "kit_revision", "lock_sha256", "dataset_sha256", "device",
               "runtime", "created", "receipt"]


def find_receipts(out_root: Path | None, paths: list[Path]) -> list[Path]:
    """Receipts under `<out_root>/runs/*/*/` plus explicit files (or folders, searched recursively)."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(path.rglob(RECEIPT_NAME)))
        else:
            raise InputMissing(f"receipt path {path} does not exist")
    if out_root is not None and (Path(out_root) / "runs").is_dir():
        found.extend(sorted((Path(out_root) / "runs").glob(f"*/*/{RECEIPT_NAME}")))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def _field(data: dict, dotted: str, path: Path, required: bool = True):
    value = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            if required:
                raise InvalidInput(f"receipt {path} has no {dotted}", hint="is it a segbook receipt?")
            return None
        value = value[part]
    return value


def _percent(value) -> float:
    return float("nan") if value is None or not math.isfinite(float(value)) else 100.0 * float(value)


def paper_key_of(configuration: dict) -> str | None:
    return configuration.get("paper_key") or CONFIG_TO_PAPER.get(str(configuration.get("name")))


def read_receipt(path: Path) -> dict:
    """One run row: identity, metrics (DSC and NSD in %, HD95 in mm) and provenance."""
    return _row(read_receipt_json(path), path)


def _row(data: dict, path: Path) -> dict:
    """A malformed block (a metric that is no number, a summary that is no object) is invalid
    input naming the receipt (65), never a crash."""
    try:
        return _row_fields(data, path)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"receipt {path} has a malformed metrics or configuration block "
                           f"({type(exc).__name__}: {exc})", hint="the receipt was edited or is damaged") from None


def _row_fields(data: dict, path: Path) -> dict:
    summary = _field(data, "metrics.summary", path)
    configuration = _field(data, "configuration", path)
    name = _field(data, "configuration.name", path)
    hd95 = summary.get("mean_hd95")
    return {
        "task_id": str(_field(data, "dataset.task_id", path)),
        "configuration": str(name),
        "paper_key": paper_key_of(configuration),
        "dsc": _percent(_field(data, "metrics.summary.mean_dice", path)),
        "nsd": _percent(summary.get("mean_nsd")),
        "hd95": float("nan") if hd95 is None else float(hd95),
        "n_test_cases": summary.get("n_cases") or len(_field(data, "metrics.per_case", path, False) or {}),
        "init": configuration.get("init"),
        "epochs": configuration.get("epochs"),
        "fold": configuration.get("fold"),
        "kit_version": str(_field(data, "kit.version", path, False) or "unknown"),
        "kit_revision": _field(data, "kit.revision", path, False),
        "lock_sha256": _field(data, "dataset.lock_sha256", path, False),
        "dataset_sha256": _field(data, "dataset.dataset_sha256", path, False),
        "device": _field(data, "device.name", path, False) or _field(data, "device.type", path, False),
        "runtime": _field(data, "runtime.kind", path, False),
        "created": str(data.get("created") or ""),
        "receipt": str(path),
    }


def load_runs(receipts: list[Path], metrics: dict | None = None):
    """DataFrame of runs (RUN_COLUMNS), newest first within a dataset x configuration.

    With a `metrics` dict, it is filled with receipt path (str) -> its "metrics" block, read in the
    same pass (per_case_metrics turns the ones a report uses into its case tables).
    """
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = []
    for path in receipts:
        data = read_receipt_json(path)
        rows.append(_row(data, path))
        if metrics is not None:
            metrics[str(path)] = data.get("metrics")
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return frame.sort_values(["task_id", "configuration", "created"], ascending=[True, True, False],
                             ignore_index=True)


def consistency_warnings(runs) -> list[str]:
    """Mixed kit versions, datasets run against different locks, duplicate runs."""
    warnings = []
    versions = sorted(set(runs["kit_version"]))
    if len(versions) > 1:
        warnings.append(f"receipts come from {len(versions)} kit versions ({', '.join(versions)}); "
                        "see the kit_version column")
    for task_id, group in runs.groupby("task_id"):
        locks = sorted({str(x) for x in group["lock_sha256"] if x})
        if len(locks) > 1:
            warnings.append(f"{task_id}: receipts were made against {len(locks)} different dataset locks "
                            f"({', '.join(x[:12] for x in locks)}); see the lock_sha256 column")
    folds = runs[~_trained_on_all(runs)]
    if len(folds):
        warnings.append(f"{len(folds)} cross-validation fold run(s) left out of the benchmark tables "
                        "(SegBook trains on all training cases); see runs.csv")
    for (task_id, config), group in runs[_trained_on_all(runs)].groupby(["task_id", "configuration"]):
        if len(group) > 1:
            warnings.append(f"{task_id} / {config}: {len(group)} receipts, the newest "
                            f"({group.iloc[0]['created'] or group.iloc[0]['receipt']}) is used")
    return warnings


def _trained_on_all(runs):
    """Rows of runs trained on all training cases (receipts without a fold count as such)."""
    return runs["fold"].fillna("all").astype(str) == "all"


def latest_runs(runs):
    """One run per dataset x configuration: the newest trained on all training cases (fold "all")."""
    benchmark = runs[_trained_on_all(runs)]
    return benchmark.drop_duplicates(["task_id", "configuration"], keep="first").reset_index(drop=True)


def per_case_metrics(row: dict, metrics) -> tuple:
    """(cases x classes Dice matrix, per-case rows in long form) of one run; InvalidInput naming the
    receipt when its per-case block is malformed. Only the runs a report uses are expanded."""
    from segbook.report.bootstrap import case_dice_matrix  # noqa: PLC0415 - numpy only when intervals are computed
    from segbook.report.paired import per_case_rows  # noqa: PLC0415

    try:
        return (case_dice_matrix(metrics),
                per_case_rows(row["task_id"], row["configuration"], row["fold"], metrics))
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"receipt {row['receipt']} has malformed per-case metrics ({type(exc).__name__}: {exc})",
                           hint="the receipt was edited or is damaged") from None
