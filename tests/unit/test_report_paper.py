"""`segbook report --paper`: tables recomputed from the manifests' per-dataset values, and the CLI."""

import json

import pandas as pd
import pytest

from segbook.catalog import load_catalog
from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from segbook.report import build_report, tables
from segbook.report.paper import benchmark_datasets

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "report"
    outcome = build_report(out, paper=True)
    return out, outcome


def test_headline_gains_match_the_paper(paper_report):
    # Reference README: fine-tuning beats scratch by about +2.1 (B), +2.4 (L), +2.8 (H) DSC points.
    _, outcome = paper_report
    assert outcome.headline["datasets"] == 87
    assert outcome.headline["gain_B"] == pytest.approx(2.1, abs=0.15)
    assert outcome.headline["gain_L"] == pytest.approx(2.4, abs=0.15)
    assert outcome.headline["gain_H"] == pytest.approx(2.8, abs=0.15)


def test_group_means_are_recomputed_from_per_dataset_values(paper_report):
    out, _ = paper_report
    datasets = pd.read_csv(out / "paper_datasets.csv")
    catalog = load_catalog()
    spleen = datasets[datasets.task_id == "Task009_Spleen"].iloc[0]
    assert spleen.huge_ft == pytest.approx(100 * catalog.get("Task009_Spleen").paper_dice["huge_ft"], abs=1e-3)
    assert spleen.gain_H == pytest.approx(spleen.huge_ft - spleen.huge, abs=1e-3)
    by_size = pd.read_csv(out / "by_size.csv").set_index("group")
    assert by_size.loc["all datasets", "n_datasets"] == 87
    assert by_size.loc[["small", "medium", "large"], "n_datasets"].sum() == 87
    for size in ("small", "medium", "large"):
        part = datasets[datasets["size"] == size]
        assert by_size.loc[size, "base_ft"] == pytest.approx(part.base_ft.mean(), abs=1e-3)
    # the paper's observations: the gain is smallest on medium datasets, large on CT, small on MRI
    for scale in ("B", "L", "H"):
        assert by_size.loc["medium", f"gain_{scale}"] < by_size.loc["small", f"gain_{scale}"]
        assert by_size.loc["medium", f"gain_{scale}"] < by_size.loc["large", f"gain_{scale}"]
    by_modality = pd.read_csv(out / "by_modality_target.csv").set_index("group")
    ct = datasets[datasets.modality == "CT"]
    mri = datasets[datasets.modality == "MRI"]
    assert ct.gain_H.mean() > 2 * mri.gain_H.mean()
    assert by_modality.n_datasets.drop("all datasets").sum() == 87
    regions = pd.read_csv(out / "by_region.csv")
    assert regions.n_datasets.iloc[1:].sum() == 87


def test_paper_outputs(paper_report):
    out, _ = paper_report
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.md", "finetune_gain.png", "paper_ft_vs_scratch.png", "by_region.csv"} <= names
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2
    gains = pd.read_csv(out / "finetune_gain.csv")
    assert len(gains) == 87 * 3


def test_custom_size_cuts_change_the_classes():
    datasets = benchmark_datasets(load_catalog(), cuts=(50, 500))
    by_size = tables.paper_grouped(tables.paper_table(datasets), "size").set_index("group")
    assert by_size.loc["small", "n_datasets"] == (datasets.n_cases <= 50).sum()
    assert by_size.loc["large", "n_datasets"] == (datasets.n_cases > 500).sum()
    default = benchmark_datasets(load_catalog())
    assert (default["size"] != datasets["size"]).any()


def run(args, capsys):
    code = run_guarded(cli, [str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_paper_and_usage_errors(tmp_path, capsys):
    code, out, err = run(["report", "--paper", "--out", tmp_path / "p"], capsys)
    assert code == 0, err
    assert "87 datasets" in out and "B +2.0" in out
    code, _, err = run(["report", "--paper", "--out", tmp_path / "p"], capsys)
    assert code == 73 and "already exists" in err
    code, _, err = run(["report", "--paper", "--out", tmp_path / "q", "--size-cuts", "400,100"], capsys)
    assert code == 2 and "--size-cuts" in err and not (tmp_path / "q").exists()
    code, _, err = run(["report", "--paper", tmp_path / "x.json"], capsys)
    assert code == 2


def test_cli_receipts_from_out_root(tmp_path, capsys):
    code, _, err = run(["report", "--out-root", tmp_path / "nothing"], capsys)
    assert code == 66 and "no receipts found" in err and not (tmp_path / "nothing" / "report").exists()
    run_dir = tmp_path / "out" / "runs" / "Task009_Spleen" / "stunet-b_ft"
    run_dir.mkdir(parents=True)
    summary = {"mean_dice": 0.9, "mean_nsd": 0.8, "mean_hd95": 2.0, "n_cases": 3,
               "per_class": {"1": {"name": "Spleen", "dice": 0.9, "nsd": 0.8, "hd95": 2.0}}}
    receipt = {"schema": "segbook-receipt/1", "created": "2025-01-01T00:00:00Z", "kit": {"version": "9.9"},
               "dataset": {"task_id": "Task009_Spleen"}, "configuration": {"name": "stunet-b_ft"},
               "metrics": {"summary": summary, "per_case": {}}}
    (run_dir / "receipt.json").write_text(json.dumps(receipt))
    code, out, err = run(["report", "--out-root", tmp_path / "out", "--tolerance", "10"], capsys)
    assert code == 0, err
    assert "1 run(s) on 1 dataset(s); 1/1 within ±10" in out
    row = pd.read_csv(tmp_path / "out" / "report" / "comparison.csv").iloc[0]
    assert row.dsc == pytest.approx(90.0) and row.paper_key == "base_ft"
