"""`segbook datasets list|show|init`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from segbook.catalog import load_catalog, size_class
from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from tests.helpers.fakes import nnunet_tree

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def repo_manifests(monkeypatch):
    monkeypatch.setenv("SEGBOOK_MANIFESTS", str(REPO / "manifests"))


def _invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_list_table_has_a_row_per_dataset():
    start = time.perf_counter()
    result = _invoke("datasets", "list")
    assert time.perf_counter() - start < 1.0
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["task", "id", "id"]
    assert len([ln for ln in lines if ln.startswith("Task")]) == 88
    assert any("Task111_LUAD-CT-Survival" in ln and "original layout not covered" in ln for ln in lines)


def test_list_json_and_csv_agree():
    rows = json.loads(_invoke("datasets", "list", "--format", "json").output)
    table = list(csv.DictReader(io.StringIO(_invoke("datasets", "list", "--format", "csv").output)))
    assert len(rows) == len(table) == 88
    assert [r["task_id"] for r in rows] == [r["task_id"] for r in table]
    spleen = next(r for r in rows if r["task_id"] == "Task009_Spleen")
    assert spleen["prepare_from"] == "MSD download, nnU-Net folder" and spleen["size"] == "small"


@pytest.mark.parametrize("option, value, count", [("--modality", "pet/ct", 3), ("--modality", "US", 1),
                                                  ("--access", "open", 40), ("--access", "embedded", 1)])
def test_list_filters(option, value, count):
    rows = json.loads(_invoke("datasets", "list", option, value, "--format", "json").output)
    assert len(rows) == count


def test_list_size_and_target_filters_use_the_shared_thresholds():
    rows = json.loads(_invoke("datasets", "list", "--size", "large", "--target", "lesion",
                              "--format", "json").output)
    expected = [m.task_id for m in load_catalog() if m.size == "large" and m.target == "lesion"]
    assert [r["task_id"] for r in rows] == expected and expected
    assert all(size_class(r["cases"]) == "large" for r in rows)


def test_list_rejects_an_unknown_filter_value():
    assert run_guarded(cli, ["datasets", "list", "--modality", "XRAY"]) == 2


def test_show_text_and_json():
    text = _invoke("datasets", "show", "task005_prostate").output
    assert "Prostate transition zone" in text and "correction: label 2" in text and "lock:" in text
    data = json.loads(_invoke("datasets", "show", "603", "--format", "json").output)
    assert data["display_name"] == "MM-WHS" and data["dataset_name"] == "Dataset603_MMWHS"


def test_show_unknown_dataset_exits_2_with_suggestions(capsys):
    assert run_guarded(cli, ["datasets", "show", "kits2O21"]) == 2
    err = capsys.readouterr().err
    assert "did you mean Task021_KiTS2021 (KiTS2021)" in err


def test_catalog_commands_never_import_torch():
    code = ("import sys; from segbook.cli.main import main; "
            "rc = main(['datasets', 'list', '--format', 'json']) + main(['datasets', 'show', 'spleen']); "
            "heavy = sorted(m for m in ('torch', 'nnunetv2', 'SimpleITK') if m in sys.modules); "
            "print(rc, heavy, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stderr.strip().splitlines()[-1] == "0 []"


# -- init -----------------------------------------------------------------------------------------
def test_init_then_prepare_a_users_own_dataset(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "Dataset501_MyLiver", 9, channels=1)
    out = tmp_path / "mine" / "my_liver.yaml"
    code = run_guarded(cli, ["datasets", "init", "MyLiver", "--raw", str(raw), "--target", "seen structure",
                             "--modality", "MRI", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    data = yaml.safe_load(out.read_text())
    assert data["task_id"] == "Task501_MyLiver" and data["nnunet_id"] == 501 and data["kind"] == "user"
    assert data["labels"] == {0: "background", 1: "class1", 2: "class2"}
    assert data["cases"] == {"paper": None, "train": 7, "test": 2}
    assert data["prepare"]["layouts"] == [{"kind": "nnunet"}]
    code = run_guarded(cli, ["prepare", str(out), "--raw", str(raw), "--out", str(tmp_path / "o"), "--lock",
                             "--quiet"])
    assert code == 0 and (tmp_path / "mine" / "my_liver.lock").is_file()
    assert (tmp_path / "o" / "nnUNet_raw" / "Dataset501_MyLiver" / "dataset.json").is_file()


def test_init_refuses_a_catalog_id_and_overwriting(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "Dataset009_Mine", 8)
    assert run_guarded(cli, ["datasets", "init", "Mine", "--raw", str(raw), "--target", "lesion",
                             "--modality", "CT"]) == 2
    assert "used by the catalog" in capsys.readouterr().err
    out = tmp_path / "m.yaml"
    out.write_text("keep me")
    assert run_guarded(cli, ["datasets", "init", "Mine", "--raw", str(raw), "--id", "555",
                             "--target", "lesion", "--modality", "CT", "--out", str(out)]) == 73
    assert out.read_text() == "keep me"


def test_init_reads_the_modality_from_ct_channel_names(tmp_path):
    raw = nnunet_tree(tmp_path / "Task560_Scans", 8, v2=False)
    meta = json.loads((raw / "dataset.json").read_text())
    meta["modality"] = {"0": "CT"}
    (raw / "dataset.json").write_text(json.dumps(meta))
    out = tmp_path / "scans.yaml"
    assert run_guarded(cli, ["datasets", "init", "Scans", "--raw", str(raw), "--target", "lesion",
                             "--out", str(out)]) == 0
    data = yaml.safe_load(out.read_text())
    assert data["modality"] == "CT"
    assert data["channels"] == [{"name": "CT", "normalization": "CTNormalization"}]


def test_init_without_dataset_json_is_input_missing(tmp_path):
    (tmp_path / "Dataset777_X").mkdir()
    assert run_guarded(cli, ["datasets", "init", "X", "--raw", str(tmp_path / "Dataset777_X"),
                             "--target", "lesion", "--modality", "CT"]) == 66
