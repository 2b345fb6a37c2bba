"""`segbook finetune` refuses bad input before any training: one line, a hint, the documented code."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.helpers import TINY, run_segbook

pytestmark = pytest.mark.unit

FINETUNE_S = ["finetune", "Demo", "--model", "stunet-s", *TINY]


def _assert_error(result, code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def _nothing_trained(out: Path) -> None:
    assert not list(out.glob("runs/*/*/receipt.json"))
    assert not list(out.glob("runs/**/checkpoint_*.pth"))


def test_unknown_dataset_suggests_names(tmp_path):
    _assert_error(run_segbook("finetune", "Task009_Splen", "--out", str(tmp_path)), 2, "did you mean")


def test_unknown_model_is_a_usage_error(tmp_path):
    result = run_segbook("finetune", "Demo", "--model", "stunet-xl", "--out", str(tmp_path))
    assert result.returncode == 2 and "stunet-xl" in result.stderr


def test_nnunet_has_no_pretrained_weights(tmp_path):
    _assert_error(run_segbook("finetune", "Demo", "--model", "nnunet", "--init", "pretrained",
                              "--out", str(tmp_path)), 2, "no pre-trained weights")


def test_catalog_dataset_without_raw_data_says_where_to_get_it(tmp_path):
    _assert_error(run_segbook("finetune", "Task009_Spleen", "--out", str(tmp_path)), 66, "--raw")


def _write(array, path: Path, spacing=(1.0, 1.0, 1.0)) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


def _nnunet_folder(root: Path, n_cases: int, *, bad_case: str | None = None) -> Path:
    folder = root / "Dataset571_Tiny"
    for i in range(n_cases):
        case = f"tiny_{i:03d}"
        image = np.full((8, 8, 8), i, dtype=np.int16)
        label = np.zeros((8, 8, 8), dtype=np.uint8)
        label[2:5, 2:5, 2:5] = 1
        _write(image, folder / "imagesTr" / f"{case}_0000.nii.gz")
        spacing = (2.0, 1.0, 1.0) if case == bad_case else (1.0, 1.0, 1.0)
        _write(label, folder / "labelsTr" / f"{case}.nii.gz", spacing)
    (folder / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "CT"}, "labels": {"background": 0, "thing": 1},
        "numTraining": n_cases, "file_ending": ".nii.gz"}))
    return folder


def test_folder_that_is_not_nnunet_layout(tmp_path):
    folder = tmp_path / "Dataset571_Empty"
    folder.mkdir()
    result = run_segbook("finetune", str(folder), "--lock", "--out", str(tmp_path / "out"), *TINY)
    assert result.returncode in (65, 66), result.stderr
    _assert_error(result, result.returncode, "dataset.json")
    _nothing_trained(tmp_path / "out")


def test_too_few_cases_for_a_split(tmp_path):
    folder = _nnunet_folder(tmp_path, 5)
    _assert_error(run_segbook("finetune", str(folder), "--lock", "--out", str(tmp_path / "out"), *TINY),
                  65, "too few")
    assert not (tmp_path / "out" / "nnUNet_raw" / "Dataset571_Tiny").exists()


def test_image_label_geometry_mismatch(tmp_path):
    folder = _nnunet_folder(tmp_path, 8, bad_case="tiny_003")
    _assert_error(run_segbook("finetune", str(folder), "--lock", "--out", str(tmp_path / "out"), *TINY),
                  65, "tiny_003")
    assert not (tmp_path / "out" / "nnUNet_raw" / "Dataset571_Tiny").exists()


def test_missing_checkpoint(tmp_path):
    _assert_error(run_segbook(*FINETUNE_S, "--weights", str(tmp_path / "nope.model"), "--out", str(tmp_path)),
                  66, "nope.model")
    _nothing_trained(tmp_path)


@pytest.fixture(scope="module")
def s_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "small_ep4k.model"
    from segbook.models.checkpoint import save_official_v1_checkpoint  # noqa: PLC0415 - torch only here
    from segbook.models.stunet import build_stunet  # noqa: PLC0415

    model = build_stunet("S", 1, 105, [[2, 2, 2]] * 5)
    return save_official_v1_checkpoint(model.state_dict(), path, epoch=4000, train_losses=[0.5, 0.4])


def test_truncated_checkpoint(tmp_path, s_checkpoint):
    cut = tmp_path / "cut.model"
    cut.write_bytes(s_checkpoint.read_bytes()[: s_checkpoint.stat().st_size // 2])
    _assert_error(run_segbook(*FINETUNE_S, "--weights", str(cut), "--trust-unpinned", "--out", str(tmp_path)),
                  65, "cut.model")
    _nothing_trained(tmp_path)


def test_checkpoint_of_another_scale(tmp_path, s_checkpoint):
    result = run_segbook("finetune", "Demo", "--model", "stunet-b", *TINY, "--weights", str(s_checkpoint),
                         "--trust-unpinned", "--out", str(tmp_path))
    _assert_error(result, 65, "mis-shaped")
    _nothing_trained(tmp_path)


def test_unpinned_checkpoint_is_refused_without_trust(tmp_path, s_checkpoint):
    _assert_error(run_segbook(*FINETUNE_S, "--weights", str(s_checkpoint), "--out", str(tmp_path)), 65)
    _nothing_trained(tmp_path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/segbook-pwned-by-test",))


def test_checkpoint_needing_unsafe_unpickling(tmp_path):
    import torch  # noqa: PLC0415 - torch only in the tests that need it

    marker = Path("/tmp/segbook-pwned-by-test")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.model"
    torch.save({"state_dict": {}, "payload": _Payload()}, evil, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    _assert_error(run_segbook(*FINETUNE_S, "--weights", str(evil), "--trust-unpinned", "--out", str(tmp_path)),
                  65, "unpickl")
    assert not marker.exists()


def test_output_root_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _assert_error(run_segbook(*FINETUNE_S, "--out", str(blocker / "out")), 73, "not writable")


def test_other_nnunet_version_is_refused(tmp_path):
    fake = tmp_path / "site" / "nnunetv2-2.7.0.dist-info"
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: nnunetv2\nVersion: 2.7.0\n")
    result = run_segbook(*FINETUNE_S, "--out", str(tmp_path / "out"), env={"PYTHONPATH": str(tmp_path / "site")})
    _assert_error(result, 78, "2.7.0", "2.8.1")
