"""The reproduction check's comparison: a single differing hash fails and is named."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("repro_check", REPO / "scripts" / "repro_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECEIPT = {
    "dataset": {"dataset_sha256": "d" * 64},
    "runtime": {"kind": "podman", "image_digest": "sha256:" + "1" * 64},
    "hashes": {"split": "a" * 64, "plans": "b" * 64, "final_weights": "c" * 64,
               "pretrained_weights": {"file_sha256": "e" * 64, "tensor_sha256": "f" * 64, "pinned": False},
               "predictions": {"case_1": "0" * 64, "case_2": "9" * 64}},
}


def test_identical_receipts_agree(capsys):
    script = load_script()
    receipts = {name: copy.deepcopy(RECEIPT) for name in script.RUNS}
    assert script.compare(receipts) == []
    assert "NO" not in capsys.readouterr().out


@pytest.mark.parametrize("path, label", [
    (("hashes", "final_weights"), "final_weights"),
    (("hashes", "predictions", "case_2"), "prediction case_2"),
    (("hashes", "pretrained_weights", "tensor_sha256"), "pretrained_weights.tensor_sha256"),
    (("dataset", "dataset_sha256"), "dataset"),
])
def test_one_differing_hash_is_named(capsys, path, label):
    script = load_script()
    receipts = {name: copy.deepcopy(RECEIPT) for name in script.RUNS}
    target = receipts["sif"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "7" * 64
    assert script.compare(receipts) == [label]
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(label + " "))
    assert row.endswith("NO")


def test_missing_prediction_is_a_difference():
    script = load_script()
    receipts = {name: copy.deepcopy(RECEIPT) for name in script.RUNS}
    del receipts["podman"]["hashes"]["predictions"]["case_1"]
    assert script.compare(receipts) == ["prediction case_1"]


def test_runtime_record_must_name_podman_and_the_image_and_apptainer_and_the_sif():
    script = load_script()
    image, sif = "sha256:" + "1" * 64, "sha256:" + "5" * 64
    receipts = {name: copy.deepcopy(RECEIPT) for name in script.RUNS}
    receipts["sif"]["runtime"] = {"kind": "apptainer", "image_digest": sif}
    expected = script.expected_runtimes("podman", image, sif)
    assert script.check_runtime_record(receipts, expected) == []
    receipts["podman"]["runtime"]["image_digest"] = None
    receipts["sif"]["runtime"]["image_digest"] = image  # the image's digest is not the SIF's
    assert len(script.check_runtime_record(receipts, expected)) == 2


def test_without_a_sif_the_third_run_is_the_image_run_as_apptainer_would():
    script = load_script()
    image = "sha256:" + "1" * 64
    assert script.run_names("docker", sif=False) == ("native", "docker", "apptainer-like")
    receipts = {name: copy.deepcopy(RECEIPT) for name in script.run_names("docker", sif=False)}
    receipts["docker"]["runtime"]["kind"] = "docker"
    receipts["apptainer-like"]["runtime"]["kind"] = "container"  # the image's own default
    assert script.check_runtime_record(receipts, script.expected_runtimes("docker", image, None)) == []
    receipts["apptainer-like"]["runtime"]["kind"] = "native"
    assert len(script.check_runtime_record(receipts, script.expected_runtimes("docker", image, None))) == 1


def test_verify_against_and_repro_check_compare_the_same_hashes(tmp_path):
    """One list: every row repro-check prints is a finding of `verify --against`, and back."""
    import json  # noqa: PLC0415

    from segbook.core.receipt import SCHEMA  # noqa: PLC0415
    from segbook.verify import compare_receipts  # noqa: PLC0415

    script = load_script()
    paths = []
    for name in ("a", "b"):
        body = {"schema": SCHEMA, "kit": {}, "configuration": {}, "files": {}, "metrics": {}, **copy.deepcopy(RECEIPT)}
        if name == "b":
            body["hashes"]["pretrained_weights"]["tensor_sha256"] = "7" * 64
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(body))
        paths.append(path)
    rows = script.hash_rows({"a": json.loads(paths[0].read_text()), "b": json.loads(paths[1].read_text())})
    findings = compare_receipts(*paths)
    assert [row["hash"] for row in rows] == [f.what for f in findings]
    assert [row["hash"] for row in rows if not row["agree"]] == [f.what for f in findings if not f.ok] \
        == ["pretrained_weights.tensor_sha256"]
