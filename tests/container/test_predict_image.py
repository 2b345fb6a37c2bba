"""`segbook predict` in the image, through run.sh: an exported zip mounted read-only at /model, the scans at
/input, the hardened run as an arbitrary uid. It gives the native predictions voxel for voxel, and a zip
altered after export is refused inside the container as it is outside."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from segbook.predict import record as records
from tests.container.conftest import run_sh
from tests.helpers import run_segbook

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_zip(demo_runs, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("model") / "demo-ft.zip"
    result = run_segbook("export", str(demo_runs["ft"]), "--out", str(target))
    assert result.returncode == 0, result.stderr
    target.parent.chmod(0o755)
    target.chmod(0o644)  # read by uid 4242 in the container
    return target


def scans_of(demo_out: Path) -> Path:
    (raw,) = (demo_out / "nnUNet_raw").glob("Dataset999_*")
    return raw / "imagesTs"


def test_predict_in_the_image_gives_the_native_predictions(image, model_zip, demo_out, tmp_path):
    scans = scans_of(demo_out)
    native = run_segbook("predict", str(model_zip), str(scans), str(tmp_path / "native"), "--no-tta")
    assert native.returncode == 0, native.stderr
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    proc = run_sh(image, "--user", "4242:4242", "--model", str(model_zip), "--input", str(scans),
                  "--output", str(out), "--", "predict", f"/model/{model_zip.name}", "/input", "/output/pred",
                  "--no-tta")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"-v {model_zip.parent}:/model:ro" in proc.stderr  # the command run.sh printed: read-only model
    ours = json.loads((out / "pred" / "predict_receipt.json").read_text())
    theirs = json.loads((tmp_path / "native" / "predict_receipt.json").read_text())
    assert ours["complete"] and ours["runtime"]["kind"] == "podman" and ours["runtime"]["image_digest"]
    assert records.what_was_asked(ours["models"], ours["options"]) \
        == records.what_was_asked(theirs["models"], theirs["options"])  # the same model hashes and options
    assert ours["cases"] and {c: e["output_hash"] for c, e in ours["cases"].items()} \
        == {c: e["output_hash"] for c, e in theirs["cases"].items()}
    for name in (e["output"] for e in theirs["cases"].values()):
        assert (out / "pred" / name).read_bytes() == (tmp_path / "native" / name).read_bytes(), name


def test_an_altered_zip_is_refused_in_the_image_and_nothing_is_predicted(image, model_zip, demo_out, tmp_path):
    altered = tmp_path / "model" / "altered.zip"
    altered.parent.mkdir()
    with zipfile.ZipFile(model_zip) as source, zipfile.ZipFile(altered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data.replace(b"3d_fullres", b"3d_fullreZ", 1)
                            if item.filename.endswith("plans.json") else data)
    altered.parent.chmod(0o755)
    altered.chmod(0o644)
    out = tmp_path / "out"
    out.mkdir()
    proc = run_sh(image, "--model", str(altered.parent), "--input", str(scans_of(demo_out)), "--output", str(out),
                  "--", "predict", "/model/altered.zip", "/input", "/output/pred")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "does not match its SHA256SUMS" in proc.stderr
    assert not list(out.rglob("*.nii.gz"))
