"""The dataset manifest schema, checked by hand (no jsonschema dependency).

Every manifest, catalog or user-made, goes through `validate_manifest`; the first problem found
becomes a one-line InvalidInput (exit 65) naming the file and the field.
"""

from __future__ import annotations

import re

from segbook.catalog.source_schema import check_source_fields
from segbook.core.configurations import PAPER_KEYS
from segbook.core.errors import InvalidInput

SCHEMA_ID = "segbook-manifest/1"
KINDS = ("catalog", "demo", "user")
MODALITIES = ("CT", "MRI", "PET/CT", "US")
TARGETS = ("lesion", "seen structure", "unseen structure", "structure & lesion")
NORMALIZATIONS = ("CTNormalization", "ZScoreNormalization", "NoNormalization", "RescaleTo01Normalization")
ACCESS_KINDS = ("open", "registration", "dua", "on request", "embedded", "unknown")  # dua: a signed data-use agreement
LAYOUT_KINDS = ("nnunet", "msd", "case_folders", "files", "dicom", "chaos")
ORIENTATIONS = ("LPS", "RAS", "LAS", "RPS", "LPI", "RAI")
TASK_ID_RE = re.compile(r"^Task\d{3}_[A-Za-z0-9][A-Za-z0-9_.-]*$")
CASE_PLACEHOLDER = "{case}"

REQUIRED = ("schema", "kind", "task_id", "nnunet_id", "display_name", "modality", "target", "region",
            "channels", "labels", "cases", "source", "prepare")


class _Checker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, problem: str):
        raise InvalidInput(f"manifest {self.where}: {field}: {problem}",
                           hint="fix the manifest (see docs/catalog.md, 'Manifest fields')")

    def type(self, field: str, value, types, *, optional: bool = False):
        if value is None and optional:
            return
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.fail(field, f"expected {_names(types)}, got a boolean")
        if not isinstance(value, types):
            self.fail(field, f"expected {_names(types)}, got {type(value).__name__}")

    def choice(self, field: str, value, allowed):
        if value not in allowed:
            self.fail(field, f"{value!r} is not one of {', '.join(map(str, allowed))}")


def _names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def validate_manifest(data, where: str) -> None:
    """Raise InvalidInput on the first schema violation in a parsed manifest."""
    c = _Checker(where)
    c.type("(top level)", data, dict)
    for key in REQUIRED:
        if key not in data:
            c.fail(key, "missing")
    c.choice("schema", data["schema"], (SCHEMA_ID,))
    c.choice("kind", data["kind"], KINDS)
    c.type("task_id", data["task_id"], str)
    if not TASK_ID_RE.match(data["task_id"]):
        c.fail("task_id", f"{data['task_id']!r} is not TaskNNN_Name")
    c.type("nnunet_id", data["nnunet_id"], int)
    if not 1 <= data["nnunet_id"] <= 999:
        c.fail("nnunet_id", "must be 1-999 (nnU-Net uses three digits)")
    c.type("display_name", data["display_name"], str)
    unknown = ("unknown",) if data["kind"] == "user" else ()  # a user's folder may not say
    c.choice("modality", data["modality"], MODALITIES + unknown)
    c.choice("target", data["target"], TARGETS + unknown)
    c.type("region", data["region"], list)
    if not data["region"] or not all(isinstance(r, str) and r for r in data["region"]):
        c.fail("region", "must be a non-empty list of names")
    _check_channels(c, data["channels"])
    _check_labels(c, data["labels"])
    _check_cases(c, data["cases"], data["kind"])
    _check_source(c, data["source"])
    _check_prepare(c, data["prepare"])
    _check_optional(c, data)


def _check_channels(c: _Checker, channels):
    c.type("channels", channels, list)
    if not channels:
        c.fail("channels", "at least one channel is needed")
    for i, ch in enumerate(channels):
        c.type(f"channels[{i}]", ch, dict)
        c.type(f"channels[{i}].name", ch.get("name"), str)
        c.choice(f"channels[{i}].normalization", ch.get("normalization"), NORMALIZATIONS)


def _check_labels(c: _Checker, labels):
    c.type("labels", labels, dict)
    keys = list(labels)
    if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys):
        c.fail("labels", "keys must be integers")
    if sorted(keys) != list(range(len(keys))) or len(keys) < 2:
        c.fail("labels", "must be 0 (background) and consecutive integers 1..N (nnU-Net requires it)")
    names = [labels[k] for k in sorted(keys)]
    if not all(isinstance(n, str) and n.strip() == n and n for n in names):
        c.fail("labels", "names must be non-empty strings without surrounding spaces")
    if names[0] != "background":
        c.fail("labels", "label 0 must be 'background'")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        c.fail("labels", f"duplicate names {dupes} (nnU-Net maps names to values)")


def _check_cases(c: _Checker, cases, kind):
    c.type("cases", cases, dict)
    for key in ("paper", "train", "test"):
        if key not in cases:
            c.fail(f"cases.{key}", "missing (use null when unknown)")
        c.type(f"cases.{key}", cases[key], int, optional=True)
        if cases[key] is not None and cases[key] < 0:
            c.fail(f"cases.{key}", "must not be negative")
    if kind == "catalog" and any(cases[k] is None for k in ("paper", "train", "test")):
        c.fail("cases", "catalog manifests need paper, train and test counts")


def _check_source(c: _Checker, source):
    c.type("source", source, dict)
    for key in ("homepage", "licence", "access", "url"):
        if key not in source:
            c.fail(f"source.{key}", "missing (use 'unknown' or null)")
    c.type("source.homepage", source["homepage"], str, optional=True)
    c.type("source.licence", source["licence"], str)
    c.choice("source.access", source["access"], ACCESS_KINDS)
    c.type("source.url", source["url"], str, optional=True)
    check_source_fields(c, source)


def _check_prepare(c: _Checker, prepare):
    c.type("prepare", prepare, dict)
    c.type("prepare.from", prepare.get("from"), str, optional=True)
    c.type("prepare.formats", prepare.get("formats"), str, optional=True)  # the download's files, as its source says
    layouts = prepare.get("layouts")
    c.type("prepare.layouts", layouts, list)
    if not layouts:
        c.fail("prepare.layouts", "at least one layout is needed")
    for i, spec in enumerate(layouts):
        where = f"prepare.layouts[{i}]"
        c.type(where, spec, dict)
        c.choice(f"{where}.kind", spec.get("kind"), LAYOUT_KINDS)
        if spec["kind"] in ("case_folders", "files"):
            _check_pattern_layout(c, where, spec)
        elif spec["kind"] == "dicom":
            _check_dicom_layout(c, where, spec)
        elif spec["kind"] == "chaos":
            c.type(f"{where}.cases", spec.get("cases"), str)
            c.type(f"{where}.value_ranges", spec.get("value_ranges"), list)
        label_map = spec.get("label_map") or {}
        c.type(f"{where}.label_map", label_map, dict)
        if not all(isinstance(k, int) and isinstance(v, int) for k, v in label_map.items()):
            c.fail(f"{where}.label_map", "must map integers to integers")
    if prepare.get("orientation") is not None:
        c.choice("prepare.orientation", prepare["orientation"], ORIENTATIONS)
    if prepare.get("image_dtype") is not None:
        c.choice("prepare.image_dtype", prepare["image_dtype"], ("float32", "int16"))


def _check_pattern_layout(c: _Checker, where: str, spec: dict):
    c.type(f"{where}.name", spec.get("name"), str)
    c.type(f"{where}.channels", spec.get("channels"), list)
    if not spec["channels"] or not all(isinstance(p, str) and p for p in spec["channels"]):
        c.fail(f"{where}.channels", "must list one file pattern per channel (or one 4D pattern)")
    patterns = [*spec["channels"]]
    if spec.get("label_parts") is None:
        c.type(f"{where}.label", spec.get("label"), str)
        patterns.append(spec["label"])
    else:
        parts = spec["label_parts"]
        c.type(f"{where}.label_parts", parts, list)
        if spec.get("label") is not None:
            c.fail(where, "give either label or label_parts, not both")
        for i, part in enumerate(parts):
            c.type(f"{where}.label_parts[{i}]", part, dict)
            c.type(f"{where}.label_parts[{i}].file", part.get("file"), str)
            c.type(f"{where}.label_parts[{i}].value", part.get("value"), int)
            patterns.append(part["file"])
    for pattern in patterns:
        if pattern.startswith("/") or ".." in pattern.split("/"):
            c.fail(where, f"pattern {pattern!r} must stay inside the raw folder")
    for key in ("case_regex", "group"):
        c.type(f"{where}.{key}", spec.get(key), str, optional=True)
        if spec.get(key) is not None:
            try:
                compiled = re.compile(spec[key])
            except re.error as exc:
                c.fail(f"{where}.{key}", f"is not a regular expression: {exc}")
            if key == "group" and compiled.groups != 1:
                c.fail(f"{where}.group", "needs exactly one (group) naming the part of the case id cases share")
    c.type(f"{where}.exclude", spec.get("exclude", []), list)
    if spec["kind"] == "case_folders":
        cases = spec.get("cases")
        listed = isinstance(cases, list) and cases and all(isinstance(x, str) for x in cases)
        if not (isinstance(cases, str) or listed):
            c.fail(f"{where}.cases", "must be a folder pattern or a list of them")
    elif CASE_PLACEHOLDER not in patterns[-1 if spec.get("label") else 0]:
        c.fail(f"{where}.label", f"a 'files' layout needs {CASE_PLACEHOLDER} in the label pattern "
                                 "(or, with label_parts, in the first channel's)")


def _check_dicom_layout(c: _Checker, where: str, spec: dict):
    """DICOM trees are read by header: the layout says which series and which label objects."""
    c.type(f"{where}.name", spec.get("name"), str)
    c.type(f"{where}.image", spec.get("image"), dict)
    label = spec.get("label")
    c.type(f"{where}.label", label, dict)
    assert isinstance(label, dict)  # c.type refused anything else
    c.choice(f"{where}.label.object", label.get("object"), ("SEG", "RTSTRUCT"))
    names = label.get("names")
    c.type(f"{where}.label.names", names, dict)
    if not names or not all(isinstance(k, str) and isinstance(v, int) and v > 0 for k, v in names.items()):
        c.fail(f"{where}.label.names", "must map segment or ROI names to label values (1, 2, ...)")
    c.choice(f"{where}.label.readers", label.get("readers", "union"), ("union", "first"))


def _check_optional(c: _Checker, data: dict):
    c.type("aliases", data.get("aliases", []), list)
    c.type("paper_dice", data.get("paper_dice") or {}, dict)
    for key, value in (data.get("paper_dice") or {}).items():
        c.choice("paper_dice key", key, PAPER_KEYS)
        c.type(f"paper_dice.{key}", value, (int, float))
        if not 0.0 <= value <= 1.0:
            c.fail(f"paper_dice.{key}", "Dice must be on the 0-1 scale")
    plan = data.get("reference_plan")
    if plan is not None:
        c.type("reference_plan", plan, dict)
        for key in ("patch", "spacing"):
            value = plan.get(key)
            c.type(f"reference_plan.{key}", value, list)
            if len(value) != 3 or not all(isinstance(v, (int, float)) and v > 0 for v in value):
                c.fail(f"reference_plan.{key}", "must be three positive numbers (z, y, x)")
    corrections = data.get("corrections", [])
    c.type("corrections", corrections, list)
    for i, item in enumerate(corrections):
        c.type(f"corrections[{i}]", item, dict)
        for key in ("what", "why", "source"):
            c.type(f"corrections[{i}].{key}", item.get(key), str)
    c.type("notes", data.get("notes", []), list)
