"""`segbook evaluate`: outputs, exit codes, and nothing written on failure."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from segbook.cli.errors import run_guarded
from segbook.cli.main import cli

pytestmark = pytest.mark.unit


def write(path: Path, array, spacing=(1.0, 1.0, 2.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


@pytest.fixture
def dataset(tmp_path):
    """nnU-Net layout: dataset.json next to labelsTs; predictions elsewhere."""
    root = tmp_path / "Dataset009_Spleen"
    for index in range(2):
        ref = np.zeros((8, 16, 16), np.uint8)
        ref[2:6, 3:12, 4:12] = 1
        ref[3:5, 5:7, 5:7] = 2
        write(root / "labelsTs" / f"spleen_{index}.nii.gz", ref)
        write(tmp_path / "pred" / f"spleen_{index}.nii.gz", np.roll(ref, index + 1, axis=1))
    (root / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "spleen": 1, "core": 2}}))
    return tmp_path / "pred", root / "labelsTs"


def run(args, capsys):
    code = run_guarded(cli, [str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_writes_csv_and_json_and_prints_summary(dataset, tmp_path, capsys):
    pred, ref = dataset
    out, js = tmp_path / "res" / "metrics.csv", tmp_path / "res" / "metrics.json"
    args = ["evaluate", pred, ref, "--out", out, "--json", js, "--nsd-tolerance", "2=3.0"]
    code, stdout, err = run(args, capsys)
    assert code == 0, err
    assert "dataset.json" in stdout and "spleen" in stdout and "mean" in stdout
    table = pd.read_csv(out)
    assert sorted(table.case.unique()) == ["spleen_0", "spleen_1"] and set(table.label) == {1, 2}
    assert set(table[table.label == 2].nsd_tolerance_mm) == {3.0}
    assert set(table[table.label == 1].nsd_tolerance_mm) == {1.0}
    block = json.loads(js.read_text())
    assert block["summary"]["per_class"]["1"]["name"] == "spleen"
    assert block["summary"]["mean_dice"] == pytest.approx(table.groupby("label").dice.mean().mean())


def test_default_output_is_in_the_prediction_folder_and_is_not_overwritten(dataset, capsys):
    pred, ref = dataset
    assert run(["evaluate", pred, ref], capsys)[0] == 0
    before = (pred / "metrics.csv").read_text()
    code, _, err = run(["evaluate", pred, ref, "--nsd-tolerance", "5"], capsys)
    assert code == 73 and "already exists" in err and (pred / "metrics.csv").read_text() == before
    assert run(["evaluate", pred, ref, "--nsd-tolerance", "5", "--force"], capsys)[0] == 0
    assert (pred / "metrics.csv").read_text() != before


@pytest.mark.parametrize("breakage,exit_code,message", [
    ("missing_pred", 66, "no prediction"),
    ("extra_label", 65, "label values [7]"),
    ("shape", 65, "differs from reference size"),
    ("no_labels", 2, "no label set"),
    ("bad_tolerance", 2, "bad --nsd-tolerance"),
])
def test_bad_input_exit_codes_and_no_output(dataset, tmp_path, capsys, breakage, exit_code, message):
    pred, ref = dataset
    args = ["evaluate", pred, ref, "--out", tmp_path / "out.csv"]
    if breakage == "missing_pred":
        (pred / "spleen_1.nii.gz").unlink()
    elif breakage == "extra_label":
        write(pred / "spleen_0.nii.gz", np.full((8, 16, 16), 7, np.uint8))
    elif breakage == "shape":
        write(pred / "spleen_0.nii.gz", np.zeros((8, 16, 15), np.uint8))
    elif breakage == "no_labels":
        (ref.parent / "dataset.json").unlink()
    else:
        args += ["--nsd-tolerance", "one"]
    code, _, err = run(args, capsys)
    assert code == exit_code and message in err, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 2  # error + hint
    assert not (tmp_path / "out.csv").exists() and not list(tmp_path.glob(".out.csv*"))


def test_subprocess_entry_point(dataset, tmp_path):
    pred, ref = dataset
    done = subprocess.run([sys.executable, "-m", "segbook", "evaluate", str(pred), str(ref),
                           "--labels", str(ref.parent / "dataset.json"), "--out", str(tmp_path / "m.csv"),
                           "--case", "spleen_1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "m.csv").case.unique().tolist() == ["spleen_1"]


def test_labels_from_the_catalog(dataset, tmp_path, capsys):
    pred, ref = dataset
    code, _, err = run(["evaluate", pred, ref, "--dataset", "Task009_Spleen", "--out", tmp_path / "a.csv"], capsys)
    assert code == 65 and "label values [2]" in err  # MSD Spleen has one class; our maps have two
    for folder in (pred, ref):
        for path in folder.glob("*.nii.gz"):
            image = sitk.ReadImage(str(path))
            array = sitk.GetArrayFromImage(image)
            array[array == 2] = 1
            fixed = sitk.GetImageFromArray(array)
            fixed.CopyInformation(image)
            sitk.WriteImage(fixed, str(path))
    code, out, err = run(["evaluate", pred, ref, "--dataset", "spleen", "--out", tmp_path / "a.csv"], capsys)
    assert code == 0, err
    assert "dataset spleen" in out and set(pd.read_csv(tmp_path / "a.csv").name) == {"Spleen"}
    code, _, err = run(["evaluate", pred, ref, "--dataset", "nosuchdataset", "--out", tmp_path / "b.csv"], capsys)
    assert code == 2 and "unknown dataset" in err
