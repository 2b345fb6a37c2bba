"""Label sets and NSD tolerances: validated once, before any image is read."""

from __future__ import annotations

import json
import math
from pathlib import Path

from segbook.catalog import load_catalog
from segbook.catalog.loader import ManifestsDir
from segbook.core.errors import InputMissing, InvalidInput

DEFAULT_NSD_TOLERANCE_MM = 1.0


def normalize_labels(labels: dict) -> dict[int, str]:
    """{int value: name} with background (0) included; values must be non-negative integers."""
    out: dict[int, str] = {}
    for value, name in labels.items():
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"label value {value!r} is not an integer") from None
        if number < 0 or str(number) != str(value).strip():
            raise InvalidInput(f"label value {value!r} is not a non-negative integer")
        out[number] = str(name)
    out.setdefault(0, "background")
    if len(out) < 2:
        raise InvalidInput("the label set has no foreground class", hint="give at least one label > 0")
    return dict(sorted(out.items()))


def labels_from_dataset_json(path: Path) -> dict[int, str]:
    """Labels of an nnU-Net dataset.json (v2: {name: value}; v1: {"value": name})."""
    if not path.is_file():
        raise InputMissing(f"{path} does not exist", hint="pass --labels PATH/dataset.json or --dataset NAME")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))["labels"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{path}: no valid 'labels' mapping ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(f"{path}: 'labels' must be a non-empty mapping")
    if all(str(k).strip().isdigit() for k in raw):  # v1: {"0": "background", ...}
        return normalize_labels(raw)
    flipped = {}
    for name, value in raw.items():
        if isinstance(value, list | tuple):
            raise InvalidInput(f"{path}: region-based label {name!r} is not supported",
                               hint="evaluate plain label maps (one integer per class)")
        flipped[value] = name
    return normalize_labels(flipped)


def labels_from_catalog(name: str, manifests_dir: ManifestsDir) -> dict[int, str]:
    """Labels of a catalog dataset (an unknown name raises UsageProblem with suggestions)."""
    return normalize_labels(load_catalog(manifests_dir).get(name).labels)


def normalize_tolerances(tolerance, labels: dict[int, str]) -> dict[int, float]:
    """Per foreground label NSD tolerance in mm; a dict may omit labels (they get the default)."""
    if isinstance(tolerance, dict):
        per_label = {int(k): v for k, v in tolerance.items()}
        unknown = sorted(set(per_label) - set(labels))
        if unknown:
            raise InvalidInput(f"NSD tolerance given for labels {unknown} that are not in the label set")
    else:
        per_label = {value: tolerance for value in labels}
    out = {}
    for value in labels:
        if value == 0:
            continue
        tau = per_label.get(value, DEFAULT_NSD_TOLERANCE_MM)
        try:
            tau = float(tau)
        except (TypeError, ValueError):
            raise InvalidInput(f"NSD tolerance {tau!r} for label {value} is not a number") from None
        if not math.isfinite(tau) or tau < 0:
            raise InvalidInput(f"NSD tolerance {tau} for label {value} must be finite and >= 0")
        out[value] = tau
    return out
