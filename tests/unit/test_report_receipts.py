"""`build_report` from receipts written in the kit's layout, with metrics from evaluate_folder."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from segbook.catalog import load_catalog
from segbook.core.errors import InputMissing, InvalidInput, OutputBlocked
from segbook.evaluate import evaluate_folder
from segbook.report import build_report

pytestmark = pytest.mark.unit

# dataset -> configuration -> how the "prediction" is degraded (voxels of erosion)
RUNS = {
    "Task009_Spleen": {"stunet-b_ft": 0, "stunet-b_scratch": 1, "nnunet": 1},
    "Task002_Heart": {"stunet-b_ft": 0, "stunet-b_scratch": 2, "stunet-l_ft": 0},
    "Task006_Lung": {"stunet-b_ft": 1, "stunet-b_scratch": 2},
}
PAPER_KEY = {"nnunet": "nnunet", "stunet-b_ft": "base_ft", "stunet-b_scratch": "base", "stunet-l_ft": "large_ft"}


def _volumes(root: Path, erosion: int, seed: int):
    rng = np.random.default_rng(seed)
    for index in range(2):
        ref = np.zeros((10, 24, 24), np.uint8)
        ref[2:8, 4:20, 5:19] = 1
        ref[ndimage.binary_dilation(rng.random(ref.shape) < 0.002, iterations=1)] = 1
        pred = ref.copy()
        if erosion:
            pred[(ref == 1) & ~ndimage.binary_erosion(ref == 1, iterations=erosion)] = 0
            pred = np.roll(pred, 1, axis=2)
        for side, array in (("ref", ref), ("pred", pred)):
            image = sitk.GetImageFromArray(array)
            image.SetSpacing((0.8, 0.8, 2.0))
            (root / side).mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(image, str(root / side / f"case_{index}.nii.gz"))
    return root / "pred", root / "ref"


def write_receipt(out_root: Path, task_id: str, config: str, metrics: dict, *, version="0.1.0",
                  created="2025-01-01T00:00:00Z", lock="a" * 64) -> Path:
    run = out_root / "runs" / task_id / config
    run.mkdir(parents=True, exist_ok=True)
    receipt = {
        "schema": "segbook-receipt/1", "created": created,
        "kit": {"version": version, "revision": "abc1234"},
        "runtime": {"kind": "native", "image": None, "image_digest": None},
        "versions": {"python": "3.11", "torch": "2.14.1", "nnunetv2": "2.8.1"},
        "device": {"type": "cpu", "name": "cpu"}, "command": ["segbook", "finetune", task_id],
        "settings": {},
        "dataset": {"task_id": task_id, "nnunet_id": 0, "name": task_id, "source": "catalog",
                    "dataset_sha256": "d" * 64, "lock_sha256": lock},
        "configuration": {"name": config, "paper_key": PAPER_KEY.get(config), "model": config.split("_")[0],
                          "init": "pretrained" if config.endswith("_ft") else "scratch", "trainer": "T",
                          "fold": "all", "epochs": 1, "iterations_per_epoch": 2, "initial_lr": 0.001},
        "determinism": {"deterministic": True, "seed": 0, "threads": 1},
        "hashes": {}, "files": {"metrics_csv": "metrics.csv"},
        "metrics": metrics, "timings": {"train": 1.0},
    }
    (run / "receipt.json").write_text(json.dumps(receipt, allow_nan=False))
    return run / "receipt.json"


@pytest.fixture(scope="module")
def metrics_by_erosion(tmp_path_factory):
    out = {}
    for erosion in (0, 1, 2):
        pred, ref = _volumes(tmp_path_factory.mktemp(f"e{erosion}"), erosion, seed=erosion)
        out[erosion] = evaluate_folder(pred, ref, {1: "organ"}).to_dict()
    return out


@pytest.fixture
def out_root(tmp_path, metrics_by_erosion):
    for task_id, configs in RUNS.items():
        for config, erosion in configs.items():
            write_receipt(tmp_path / "out", task_id, config, metrics_by_erosion[erosion])
    return tmp_path / "out"


def test_report_compares_each_run_with_the_paper(out_root, metrics_by_erosion):
    catalog = load_catalog()
    outcome = build_report(out_root / "report", out_root=out_root)
    assert outcome.n_receipts == 8 and outcome.warnings == []
    for name in ("runs.csv", "comparison.csv", "by_size.csv", "by_modality_target.csv", "by_region.csv",
                 "finetune_gain.csv", "report.md", "report.html", "ours_vs_paper.png", "finetune_gain.png"):
        assert (out_root / "report" / name).is_file(), name
    table = pd.read_csv(out_root / "report" / "comparison.csv")
    assert len(table) == 8
    row = table[(table.task_id == "Task002_Heart") & (table.configuration == "stunet-l_ft")].iloc[0]
    ours = 100 * metrics_by_erosion[0]["summary"]["mean_dice"]
    paper = 100 * catalog.get("Task002_Heart").paper_dice["large_ft"]
    assert row.dsc == pytest.approx(ours, abs=1e-3) and row.dsc_paper == pytest.approx(paper, abs=1e-3)
    assert row["diff"] == pytest.approx(ours - paper, abs=1e-3)
    assert bool(row.within) == (abs(ours - paper) <= 2.0)
    assert row.modality == "MRI" and row["size"] == "small" and row.kit_version == "0.1.0"


def test_groups_and_gains_are_recomputed_from_the_rows(out_root):
    build_report(out_root / "report", out_root=out_root, tolerance=50)
    folder = out_root / "report"
    table = pd.read_csv(folder / "comparison.csv")
    by_modality = pd.read_csv(folder / "by_modality_target.csv")
    ct_ft = by_modality[(by_modality.group == "CT x seen structure") & (by_modality.configuration == "stunet-b_ft")]
    expected = table[(table.modality_target == "CT x seen structure") & (table.configuration == "stunet-b_ft")]
    assert ct_ft.iloc[0].dsc == pytest.approx(expected.dsc.mean(), abs=1e-3)
    assert ct_ft.iloc[0].n_datasets == len(expected) == 1
    every = by_modality[(by_modality.group == "all datasets") & (by_modality.configuration == "stunet-b_ft")]
    assert every.iloc[0].n_datasets == 3 and every.iloc[0]["within"] == "3/3"  # tolerance 50 points
    gains = pd.read_csv(folder / "finetune_gain.csv")
    assert sorted(gains.task_id) == sorted(RUNS) and set(gains.scale) == {"B"}
    assert (gains.gain > 0).all()  # less erosion for the fine-tuned runs
    lung = gains[gains.task_id == "Task006_Lung"].iloc[0]
    assert lung.gain == pytest.approx(lung.dsc_ft - lung.dsc_scratch)
    by_size = pd.read_csv(folder / "finetune_gain_by_size.csv")
    assert by_size[by_size.group == "all datasets"].iloc[0].gain == pytest.approx(gains.gain.mean(), abs=1e-3)


def test_html_is_self_contained_and_markdown_has_the_tables(out_root):
    build_report(out_root / "report", out_root=out_root)
    page = (out_root / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # ours vs paper, the paired comparisons, the gains
    assert "src=\"http" not in page and "<link" not in page and "Task009_Spleen" in page
    markdown = (out_root / "report" / "report.md").read_text()
    assert "## By dataset size" in markdown and "| task_id | dataset |" in markdown
    assert "![Ours vs paper](ours_vs_paper.png)" in markdown
    assert "comparisons.csv)](comparisons.png)" in markdown  # the forest plot, after the summary


def test_mixed_versions_locks_and_duplicates_warn_and_show_columns(out_root, metrics_by_erosion, tmp_path):
    write_receipt(tmp_path / "extra", "Task009_Spleen", "stunet-b_ft", metrics_by_erosion[2], version="0.2.0",
                  created="2025-02-01T00:00:00Z", lock="b" * 64)
    outcome = build_report(out_root / "report", out_root=out_root, receipts=[tmp_path / "extra"])
    text = " | ".join(outcome.warnings)
    assert "2 kit versions (0.1.0, 0.2.0)" in text
    assert "Task009_Spleen: receipts were made against 2 different dataset locks" in text
    assert "Task009_Spleen / stunet-b_ft: 2 receipts, the newest (2025-02-01" in text
    runs = pd.read_csv(out_root / "report" / "runs.csv")
    assert sorted(runs.kit_version.unique()) == ["0.1.0", "0.2.0"] and len(runs) == 9
    table = pd.read_csv(out_root / "report" / "comparison.csv")
    used = table[(table.task_id == "Task009_Spleen") & (table.configuration == "stunet-b_ft")]
    assert len(used) == 1 and used.iloc[0].kit_version == "0.2.0"  # the newest
    assert "0.2.0" in (out_root / "report" / "report.html").read_text()


def test_user_dataset_without_paper_values(tmp_path, metrics_by_erosion):
    write_receipt(tmp_path / "out", "Task999_MyData", "stunet-b_ft", metrics_by_erosion[0])
    outcome = build_report(tmp_path / "out" / "report", out_root=tmp_path / "out")
    assert any("no paper value" in w for w in outcome.warnings)
    row = pd.read_csv(tmp_path / "out" / "report" / "comparison.csv").iloc[0]
    assert row.modality == "unknown" and math.isnan(row.dsc_paper)


def test_no_receipts_bad_receipts_and_existing_report_leave_nothing(tmp_path, out_root):
    with pytest.raises(InputMissing, match="no receipts found"):
        build_report(tmp_path / "r1", out_root=tmp_path / "empty")
    bad = out_root / "runs" / "Task002_Heart" / "stunet-b_ft" / "receipt.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot read receipt"):
        build_report(tmp_path / "r2", out_root=out_root)
    bad.write_text(json.dumps({"schema": "other/9"}))
    with pytest.raises(InvalidInput, match="is not a segbook-receipt/1 receipt"):
        build_report(tmp_path / "r2", out_root=out_root)
    bad.write_text(json.dumps({"schema": "segbook-receipt/1", "dataset": {"task_id": "x"}}))
    with pytest.raises(InvalidInput, match="has no metrics.summary"):
        build_report(tmp_path / "r2", out_root=out_root)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r")]  # no temp folders left
    bad.unlink()
    build_report(tmp_path / "r3", out_root=out_root)
    before = (tmp_path / "r3" / "report.html").read_text()
    with pytest.raises(OutputBlocked):
        build_report(tmp_path / "r3", out_root=out_root, tolerance=0.5)
    assert (tmp_path / "r3" / "report.html").read_text() == before
    build_report(tmp_path / "r3", out_root=out_root, tolerance=0.5, force=True)
    assert "within ±0.5" in (tmp_path / "r3" / "report.md").read_text()


def test_the_findings_carry_intervals_over_datasets_and_the_target_grouping(out_root):
    build_report(out_root / "report", out_root=out_root)
    folder = out_root / "report"
    lead = pd.read_csv(folder / "headline_gains.csv")
    assert {"all", "size", "modality", "target"} <= set(lead.grouping)
    every = lead[(lead.grouping == "all") & (lead.scale == "B")].iloc[0]
    gains = pd.read_csv(folder / "finetune_gain.csv")
    assert every.n_pairs == 3 and every.gain == pytest.approx(gains.gain.mean(), abs=1e-3)
    assert every.gain_low <= every.gain <= every.gain_high  # a bootstrap over the 3 datasets' gains
    assert gains.gain.min() - 1e-3 <= every.gain_low and every.gain_high <= gains.gain.max() + 1e-3
    single = lead[(lead.n_pairs == 1)]
    assert len(single) and single.gain_low.isna().all()  # one pair: no interval over datasets
    comparisons = pd.read_csv(folder / "comparisons.csv")
    # the pairs the paper compares, for every dataset that has both sides
    pairs = set(zip(comparisons.task_id, comparisons.config_a, comparisons.config_b, strict=True))
    assert ("Task009_Spleen", "stunet-b_ft", "stunet-b_scratch") in pairs
    assert ("Task009_Spleen", "stunet-b_ft", "nnunet") in pairs
    assert ("Task002_Heart", "stunet-l_ft", "nnunet") not in pairs  # Heart has no nnunet run
