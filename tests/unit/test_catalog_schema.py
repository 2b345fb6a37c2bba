"""The manifest schema refuses what would break prepare or nnU-Net, with a one-line message."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from segbook.catalog import DatasetManifest
from segbook.catalog.schema import validate_manifest
from segbook.core.errors import InputMissing, InvalidInput

pytestmark = pytest.mark.unit

SPLEEN = Path(__file__).resolve().parents[2] / "manifests" / "datasets" / "Task009_Spleen.yaml"


@pytest.fixture()
def good() -> dict:
    return yaml.safe_load(SPLEEN.read_text(encoding="utf-8"))


def _break(data: dict, path: str, value):
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


_DELETE = object()
CASES = [
    ("task_id", _DELETE, "task_id: missing"),
    ("task_id", "Spleen", "is not TaskNNN_Name"),
    ("nnunet_id", 1000, "must be 1-999"),
    ("nnunet_id", "9", "expected int"),
    ("modality", "XRAY", "'XRAY' is not one of"),
    ("target", "organ", "'organ' is not one of"),
    ("region", [], "non-empty list"),
    ("channels", [], "at least one channel"),
    ("channels.0.normalization", "MinMax", "normalization"),
    ("labels", {0: "background", 2: "Spleen"}, "consecutive"),
    ("labels", {0: "background", 1: "A", 2: "A"}, "duplicate names"),
    ("labels", {0: "bg", 1: "Spleen"}, "label 0 must be 'background'"),
    ("labels", {0: "background", 1: " Spleen"}, "surrounding spaces"),
    ("cases.train", None, "catalog manifests need"),
    ("cases.test", -1, "must not be negative"),
    ("source.access", "free", "'free' is not one of"),
    ("source.licence", _DELETE, "use 'unknown'"),
    ("prepare.layouts", [], "at least one layout"),
    ("prepare.layouts.0", {"kind": "dicm"}, "'dicm' is not one of"),
    ("prepare.layouts.0", {"kind": "dicom", "name": "x", "image": {}, "label": {"object": "SEG", "names": {}}},
     "must map segment or ROI names"),
    ("prepare.layouts.0", {"kind": "files", "name": "x", "channels": ["a.nii.gz"], "label": "b.nii.gz"},
     "needs {case}"),
    ("prepare.layouts.0", {"kind": "case_folders", "name": "x", "cases": "*", "channels": ["../a"],
                           "label": "b"}, "must stay inside"),
    ("prepare.layouts.0", {"kind": "msd", "label_map": {"1": 2}}, "integers to integers"),
    ("paper_dice.base", 96.4, "0-1 scale"),
    ("paper_dice", {"tiny": 0.5}, "'tiny' is not one of"),
    ("reference_plan.patch", [64, 192], "three positive numbers"),
    ("corrections", [{"what": "x"}], "corrections[0].why"),
    ("schema", "segbook-manifest/0", "'segbook-manifest/0' is not one of"),
]


@pytest.mark.parametrize("path, value, message", CASES, ids=[c[0] + ":" + c[2][:20] for c in CASES])
def test_schema_rejects_with_a_one_line_message(good, path, value, message):
    broken = _break(copy.deepcopy(good), path, value)
    with pytest.raises(InvalidInput) as info:
        validate_manifest(broken, "Task009_Spleen.yaml")
    assert message in info.value.message and "\n" not in info.value.message
    assert info.value.exit_code == 65


def test_the_unbroken_manifest_passes(good):
    validate_manifest(good, "Task009_Spleen.yaml")


def test_invalid_yaml_is_invalid_input(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task_id: [unclosed\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        DatasetManifest.from_file(bad)


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    bad = tmp_path / "evil.yaml"
    bad.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        DatasetManifest.from_file(bad)


def test_missing_manifest_file_is_input_missing(tmp_path):
    with pytest.raises(InputMissing):
        DatasetManifest.from_file(tmp_path / "nope.yaml")
