"""`segbook predict` on the demo's fine-tuned run, for real: it gives the run's own predictions voxel for
voxel, agrees with nnU-Net 2.8.1's own nnUNetPredictor on the same trained-model folder, continues a
cut run, and refuses a model whose receipt does not verify or inputs that do not fit it; `segbook export`
makes a zip that round-trips through predict, installs into plain nnU-Net, and is refused if altered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segbook.nnunet.environment import nnunet_environment
from tests.helpers import run_segbook

pytestmark = pytest.mark.integration


def _images(demo_out):
    (raw,) = (demo_out / "nnUNet_raw").glob("Dataset999_*")
    return raw / "imagesTs"


def _array(path):
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), (image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def _linked_root(demo_out, target):
    """A second output root holding the fine-tuned run and the raw data, as hard links (nothing copied):
    a file to tamper with is unlinked first, so the session's run stays intact."""
    for name in ("nnUNet_raw", "runs/Task999_SegBookDemo/stunet-s_ft"):
        shutil.copytree(demo_out / name, target / name, copy_function=os.link)
    return target / "runs" / "Task999_SegBookDemo" / "stunet-s_ft"


@pytest.fixture(scope="module")
def predicted(demo_out, demo_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("predicted")
    result = run_segbook("predict", str(demo_runs["ft"]), str(_images(demo_out)), str(out / "pred"))
    assert result.returncode == 0, result.stderr
    return out / "pred", result


def test_predict_gives_the_runs_own_predictions_voxel_for_voxel(predicted, demo_runs):
    folder, result = predicted
    receipt = json.loads((demo_runs["ft"] / "receipt.json").read_text())
    record = json.loads((folder / "predict_receipt.json").read_text())
    assert record["complete"] and set(record["cases"]) == set(receipt["hashes"]["predictions"])
    for case, recorded in receipt["hashes"]["predictions"].items():
        ours, geometry = _array(folder / f"{case}.nii.gz")
        theirs, their_geometry = _array(demo_runs["ft"] / "predictions" / f"{case}.nii.gz")
        assert np.array_equal(ours, theirs) and geometry == their_geometry, case
        assert record["cases"][case]["output_hash"] == recorded  # the run's own content hash
    model = record["models"][0]
    assert model["verified"] and model["final_weights_tensor_sha256"] == receipt["hashes"]["final_weights"]
    assert record["options"]["tta"] is True and not record["trust_unverified"]
    assert "predicted demo_" in result.stderr and "left" in result.stderr  # per-case progress with ETA


def test_predict_agrees_with_nnunets_own_predictor(predicted, demo_out, demo_runs, tmp_path):
    folder, _ = predicted
    (model_folder,) = (demo_runs["ft"] / "nnUNet_results" / "Dataset999_SegBookDemo").glob("*__*__*")
    # nnU-Net's own loader unpickles without weights_only: used here only as the reference, on a file
    # this session's own demo wrote, in a child process with the kit's trainer classes on nnU-Net's path
    script = ("import sys, torch\n"
              "from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor\n"
              "torch.set_num_threads(2)\n"
              "p = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True, "
              "perform_everything_on_device=True, device=torch.device('cpu'), allow_tqdm=False)\n"
              "p.initialize_from_trained_model_folder(sys.argv[1], use_folds=('all',), "
              "checkpoint_name='checkpoint_final.pth')\n"
              "p.predict_from_files(sys.argv[2], sys.argv[3], save_probabilities=False, overwrite=True, "
              "num_processes_preprocessing=1, num_processes_segmentation_export=1)\n")
    env = nnunet_environment(tmp_path, tmp_path, threads=2, data_workers=0, deterministic=True)
    proc = subprocess.run([sys.executable, "-c", script, str(model_folder), str(_images(demo_out)),
                           str(tmp_path / "nnunet")], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for path in sorted((tmp_path / "nnunet").glob("*.nii.gz")):
        ours, geometry = _array(folder / path.name)
        theirs, their_geometry = _array(path)
        assert np.array_equal(ours, theirs) and geometry == their_geometry, path.name


def test_a_rerun_skips_what_is_made_and_a_foreign_output_is_refused(predicted, demo_out, demo_runs, tmp_path):
    folder, _ = predicted
    again = run_segbook("predict", str(demo_runs["ft"]), str(_images(demo_out)), str(folder))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("0 predicted, 2 skipped")
    other = tmp_path / "other"
    other.mkdir()
    (other / "demo_001.nii.gz").write_bytes(b"someone's result")
    blocked = run_segbook("predict", str(demo_runs["ft"]), str(_images(demo_out)), str(other))
    assert blocked.returncode == 73 and "--force" in blocked.stderr
    assert (other / "demo_001.nii.gz").read_bytes() == b"someone's result"


def test_an_unverified_model_is_refused_unless_trusted_and_then_recorded(demo_out, tmp_path):
    run = _linked_root(demo_out, tmp_path / "root")
    receipt = json.loads((run / "receipt.json").read_text())
    receipt["metrics"]["summary"]["mean_dice"] = 0.999  # a claim the files do not support
    (run / "receipt.json").unlink()
    (run / "receipt.json").write_text(json.dumps(receipt))
    refused = run_segbook("predict", str(run), str(_images(demo_out)), str(tmp_path / "pred"))
    assert refused.returncode == 1, refused.stderr
    assert "does not verify" in refused.stderr and not list((tmp_path / "pred").glob("*.nii.gz"))
    trusted = run_segbook("predict", str(run), str(_images(demo_out) / "demo_001_0000.nii.gz"),
                          str(tmp_path / "pred"), "--trust-unverified", "--no-tta")
    assert trusted.returncode == 0, trusted.stderr
    record = json.loads((tmp_path / "pred" / "predict_receipt.json").read_text())
    assert record["trust_unverified"] and record["unverified"] and not record["models"][0]["verified"]
    assert list(record["cases"]) == ["demo_001"] and record["options"]["tta"] is False


def test_inputs_that_do_not_fit_the_model_are_65(demo_runs, demo_out, tmp_path):
    images = tmp_path / "two-channels"
    images.mkdir()
    for channel in ("0000", "0001"):
        shutil.copy(_images(demo_out) / "demo_001_0000.nii.gz", images / f"demo_001_{channel}.nii.gz")
    result = run_segbook("predict", str(demo_runs["ft"]), str(images), str(tmp_path / "pred"))
    assert result.returncode == 65, result.stderr
    assert "case demo_001 has channel file(s) [0, 1], the model needs 1" in result.stderr
    assert not (tmp_path / "pred").exists() or not list((tmp_path / "pred").glob("*.nii.gz"))


def test_a_checkpoint_changed_after_verification_is_refused_by_the_predictor(demo_runs, tmp_path):
    """The child hashes the tensors it loaded: a file swapped between the check and the load is refused."""
    (checkpoint,) = demo_runs["ft"].glob("nnUNet_results/*/*/fold_all/checkpoint_final.pth")
    job = {"models": [{"folder": str(checkpoint.parent.parent), "checkpoint": str(checkpoint),
                       "trainer": "SegbookSTUNetTrainer_S_ft", "tensor_sha256": "0" * 64}],
           "tta": False, "device": "cpu", "threads": 1, "cases": []}
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = nnunet_environment(tmp_path, tmp_path, threads=1, data_workers=0)
    proc = subprocess.run([sys.executable, "-m", "segbook.nnunet.predict_cases", str(tmp_path / "job.json")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "are not the ones its receipt records" in proc.stdout


def _nnunet_cli(name: str):
    return str(Path(sys.executable).with_name(name))


@pytest.fixture(scope="module")
def exported(demo_runs, tmp_path_factory):
    target = tmp_path_factory.mktemp("exported") / "model.zip"
    result = run_segbook("export", str(demo_runs["ft"]), "--out", str(target))
    assert result.returncode == 0, result.stderr
    return target


def test_an_export_round_trips_through_predict_and_installs_into_plain_nnunet(exported, demo_runs, demo_out,
                                                                              tmp_path):
    with zipfile.ZipFile(exported) as zf:
        names = sorted(zf.namelist())
        root = "Dataset999_SegBookDemo/SegbookSTUNetTrainer_S_ft__nnUNetPlans__3d_fullres/"
        assert names == sorted(root + n for n in ("dataset.json", "plans.json", "fold_all/checkpoint_final.pth",
                                                  "fold_all/segbook_receipt.json", "MODEL_CARD.md", "SHA256SUMS"))
        card = zf.read(root + "MODEL_CARD.md").decode()
        assert "licence: Apache-2.0" in card and "| all | 2 |" in card
    again = run_segbook("export", str(demo_runs["ft"]), "--out", str(exported))
    assert again.returncode == 73  # an existing zip is not replaced without --force
    missing = run_segbook("predict", str(exported), str(_images(demo_out)), str(tmp_path / "ours"), "--folds", "0,all")
    assert missing.returncode == 65 and "fold 0 is not among the model's folds (all)" in missing.stderr
    assert not (tmp_path / "ours").exists() or not list((tmp_path / "ours").glob("*.nii.gz"))
    ours = run_segbook("predict", str(exported), str(_images(demo_out)), str(tmp_path / "ours"),
                       "--no-tta", "--folds", "all")
    assert ours.returncode == 0, ours.stderr
    assert json.loads((tmp_path / "ours" / "predict_receipt.json").read_text())["models"][0]["from"] == "archive"
    # plain nnU-Net: its installer, then nnUNetv2_predict with the kit's trainer classes on its path
    env = nnunet_environment(tmp_path, tmp_path / "results", threads=2, data_workers=0, deterministic=True)
    installed = subprocess.run([_nnunet_cli("nnUNetv2_install_pretrained_model_from_zip"), str(exported)],
                               env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    plain = subprocess.run([_nnunet_cli("nnUNetv2_predict"), "-i", str(_images(demo_out)), "-o",
                            str(tmp_path / "plain"), "-d", "999", "-c", "3d_fullres", "-tr",
                            "SegbookSTUNetTrainer_S_ft", "-f", "all", "-chk", "checkpoint_final.pth", "--disable_tta",
                            "-npp", "1", "-nps", "1", "-device", "cpu", "--disable_progress_bar"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr[-2000:]
    for path in sorted((tmp_path / "plain").glob("*.nii.gz")):
        mine, geometry = _array(tmp_path / "ours" / path.name)
        theirs, their_geometry = _array(path)
        assert geometry == their_geometry and np.mean(mine == theirs) > 0.999, path.name


@pytest.mark.parametrize("damage", ["altered", "added", "removed"])
def test_a_tampered_export_is_refused_before_anything_is_loaded(exported, demo_out, tmp_path, damage):
    with zipfile.ZipFile(exported) as source, zipfile.ZipFile(tmp_path / "bad.zip", "w") as bad:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("plans.json") and damage == "altered":
                data = data.replace(b"3d_fullres", b"3d_fullreZ", 1)
            if info.filename.endswith("dataset.json") and damage == "removed":
                continue
            bad.writestr(info, data)
        if damage == "added":
            bad.writestr(info.filename.rsplit("/", 1)[0] + "/fold_all/extra.py", b"print('hello')\n")
    result = run_segbook("predict", str(tmp_path / "bad.zip"), str(_images(demo_out)), str(tmp_path / "pred"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "does not match its SHA256SUMS" in result.stderr and "differs: " in result.stdout
    assert not list((tmp_path / "pred").glob("*.nii.gz"))


def test_a_dicom_series_is_predicted_on_its_grid_and_as_a_dicom_seg(predicted, demo_runs, demo_out, tmp_path):
    """The same voxels as a DICOM MR series (files named in no slice order): the NIfTI prediction equals
    the NIfTI input's, and the DICOM-SEG references the series, frame by source instance."""
    import highdicom as hd  # noqa: PLC0415
    import pydicom  # noqa: PLC0415

    from tests.helpers.dicom_writer import write_ct_series  # noqa: PLC0415

    folder, _ = predicted
    image = sitk.ReadImage(str(_images(demo_out) / "demo_001_0000.nii.gz"))
    files = write_ct_series(sitk.GetArrayFromImage(image), tmp_path / "dicom" / "series", patient_id="P1",
                            spacing=image.GetSpacing(), origin=image.GetOrigin(), modality="MR")
    uid = str(pydicom.dcmread(files[0]).SeriesInstanceUID)
    result = run_segbook("predict", str(demo_runs["ft"]), str(tmp_path / "dicom"), str(tmp_path / "pred"),
                         "--output-format", "dicom-seg")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "pred" / "predict_receipt.json").read_text())
    assert list(record["cases"]) == [uid] and record["cases"][uid]["dicom_seg"]["file"] == f"{uid}.seg.dcm"
    ours, geometry = _array(tmp_path / "pred" / f"{uid}.nii.gz")
    theirs, their_geometry = _array(folder / "demo_001.nii.gz")
    assert np.array_equal(ours, theirs)
    assert np.allclose(geometry[0], their_geometry[0]) and np.allclose(geometry[1], their_geometry[1])
    seg = hd.seg.segread(tmp_path / "pred" / f"{uid}.seg.dcm")
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uid
    assert [item.SegmentLabel for item in seg.SegmentSequence] == ["organ", "lesion"]
    sops = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]
    for number, value in ((1, 1), (2, 2)):
        mask = seg.get_pixels_by_source_instance(sops, segment_numbers=[number], combine_segments=False,
                                                 assert_missing_frames_are_empty=True)[..., 0]
        assert np.array_equal(mask.astype(bool), ours == value), number
    nifti_only = run_segbook("predict", str(demo_runs["ft"]), str(_images(demo_out)), str(tmp_path / "x"),
                             "--output-format", "dicom-seg")
    assert nifti_only.returncode == 2 and "needs DICOM series" in nifti_only.stderr
