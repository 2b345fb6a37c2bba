"""`segbook finetune` and `segbook demo` for real: nnU-Net plans, trains, predicts on CPU."""

from __future__ import annotations

import json
import shutil

import pytest
import SimpleITK as sitk

from segbook.core.protocol import TrainingOptions
from segbook.report.demo_figure import pseudo_dice_curve
from tests.helpers import TINY
from tests.helpers import run_segbook as segbook

pytestmark = pytest.mark.integration


def _receipt(run_dir):
    return json.loads((run_dir / "receipt.json").read_text())


def test_demo_writes_complete_receipts(demo_runs):
    for kind, run_dir in demo_runs.items():
        receipt = _receipt(run_dir)
        assert receipt["schema"] == "segbook-receipt/1"
        assert receipt["dataset"]["task_id"] == "Task999_SegBookDemo"
        assert receipt["dataset"]["num_test"] == 2 and receipt["dataset"]["num_train"] == 8
        assert receipt["determinism"] == {"deterministic": True, "seed": 12345, "threads": 2, "data_workers": 2}
        # the options as given, every field, the same in the trainer's config and in the receipt
        given = TrainingOptions(epochs=1, iterations_per_epoch=2).as_dict()
        assert receipt["configuration"]["options"] == given
        assert json.loads((run_dir / "train_config.json").read_text())["options"] == given
        assert receipt["versions"]["nnunetv2"] == "2.8.1"
        assert receipt["runtime"]["kind"] == "native"
        stages = {"prepare", "plan", "train", "predict", "evaluate"} | ({"weights"} if kind == "ft" else set())
        assert set(receipt["timings"]) == stages
        assert sorted(receipt["hashes"]["predictions"]) == sorted(json.loads(
            (run_dir / "split.json").read_text())["test"])
        summary = receipt["metrics"]["summary"]
        assert 0.0 <= summary["mean_dice"] <= 1.0
        assert set(summary["per_class"]) == {"1", "2"}
        assert (run_dir / "metrics.csv").is_file()
        weights = receipt["hashes"]["pretrained_weights"]
        if kind == "ft":
            assert receipt["configuration"]["initial_lr"] == 1e-3
            assert weights["pinned"] is False and weights["trusted_unpinned"] is True
            assert "pre-trained weights loaded" in (run_dir / "logs" / "nnunet.log").read_text()
        else:
            assert receipt["configuration"]["initial_lr"] == 1e-2
            assert weights is None


def test_fine_tuned_and_scratch_share_split_and_plans_but_not_weights(demo_runs):
    ft, scratch = _receipt(demo_runs["ft"]), _receipt(demo_runs["scratch"])
    assert ft["hashes"]["split"] == scratch["hashes"]["split"]
    assert ft["hashes"]["plans"] == scratch["hashes"]["plans"]
    assert ft["hashes"]["final_weights"] != scratch["hashes"]["final_weights"]


def test_verify_accepts_untouched_run_and_names_a_tampered_prediction(demo_runs, tmp_path):
    ok = segbook("verify", str(demo_runs["scratch"] / "receipt.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "verify: OK" in ok.stdout
    copy = tmp_path / "run"
    shutil.copytree(demo_runs["scratch"], copy)
    case = sorted(_receipt(copy)["hashes"]["predictions"])[0]
    prediction = copy / "predictions" / f"{case}.nii.gz"

    image = sitk.ReadImage(str(prediction))
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0] = 1 - array[0, 0, 0]
    flipped = sitk.GetImageFromArray(array)
    flipped.CopyInformation(image)
    sitk.WriteImage(flipped, str(prediction), True)
    bad = segbook("verify", str(copy / "receipt.json"))
    assert bad.returncode == 1
    assert f"DIFFERS prediction {case}" in bad.stdout


def test_finished_run_is_not_repeated_without_force(demo_out, demo_runs):
    before = (demo_runs["scratch"] / "receipt.json").read_text()
    again = segbook("finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--out", str(demo_out), *TINY)
    assert again.returncode == 0, again.stderr
    assert "already complete" in again.stderr
    assert (demo_runs["scratch"] / "receipt.json").read_text() == before


def test_deterministic_rerun_is_bit_identical(demo_out, demo_runs, tmp_path):
    """--force reruns the scratch run from nothing: same weights and predictions, bit for bit."""
    first = tmp_path / "first_receipt.json"
    shutil.copy(demo_runs["scratch"] / "receipt.json", first)
    rerun = segbook("finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--out", str(demo_out),
                    "--force", *TINY)
    assert rerun.returncode == 0, rerun.stderr
    compared = segbook("verify", str(demo_runs["scratch"] / "receipt.json"), "--against", str(first),
                       "--no-files")
    assert compared.returncode == 0, compared.stdout
    a, b = json.loads(first.read_text()), _receipt(demo_runs["scratch"])
    assert a["hashes"]["final_weights"] == b["hashes"]["final_weights"]
    assert a["hashes"]["predictions"] == b["hashes"]["predictions"]
    assert a["metrics"]["summary"] == b["metrics"]["summary"]


def test_report_from_real_receipts_and_paper(demo_out, tmp_path):
    report = tmp_path / "report"
    result = segbook("report", "--out-root", str(demo_out), "--out", str(report))
    assert result.returncode == 0, result.stderr
    html = (report / "report.html").read_text()
    assert "Task999_SegBookDemo" in html and "stunet-s_ft" in html and "stunet-s_scratch" in html
    assert list(report.glob("*.png")) and list(report.glob("*.csv"))
    # the demo's two runs, paired case by case: 2 test cases are too few for any test, and the page says so
    comparisons = (report / "comparisons.csv").read_text().splitlines()
    assert len(comparisons) == 2 and comparisons[1].startswith("Task999_SegBookDemo,stunet-s_ft,stunet-s_scratch,2,")
    assert comparisons[1].endswith(",too few cases (n=2 < 6)")
    assert len((report / "per_case.csv").read_text().splitlines()) == 1 + 2 * 2 * 2  # runs x cases x classes
    assert html.index('id="forest"') < html.index("Per dataset and configuration")
    again = segbook("report", "--out-root", str(demo_out), "--out", str(report))
    assert again.returncode == 73  # an existing report is not replaced without --force
    paper = segbook("report", "--paper", "--out", str(tmp_path / "paper"))
    assert paper.returncode == 0, paper.stderr
    assert (tmp_path / "paper" / "report.html").is_file()


def test_demo_draws_its_figure_from_the_runs(demo_out, demo_runs):
    figure = demo_out / "demo" / "demo.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(figure.parent.glob(".demo.png.*"))  # written under a temporary name, then renamed
    for run_dir in demo_runs.values():  # one pseudo-Dice per epoch of the tiny schedule
        curve = pseudo_dice_curve(run_dir / "logs" / "nnunet.log")
        assert [epoch for epoch, _ in curve] == [1] and 0.0 <= curve[0][1] <= 1.0
