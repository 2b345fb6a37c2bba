"""`segbook grid plan`: selection, one-pass preflight, the hashed grid file, the cost estimate."""

from __future__ import annotations

import re

import pytest
import yaml

from segbook.catalog import load_catalog
from segbook.core.errors import ExitCode
from segbook.grid.cells import PAPER_CONFIGS
from segbook.grid.cost import load_throughput
from segbook.grid.gridfile import read_grid
from segbook.grid.selection import make_cells, select_configs, select_datasets, select_folds
from tests.grid_support import manifests_with_locks
from tests.helpers import assert_two_line_error, run_segbook

pytestmark = pytest.mark.unit

TINY = ["--epochs", "1", "--iterations-per-epoch", "2"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_all_is_the_87_benchmark_datasets_and_filters_narrow_them(catalog):
    chosen, problems = select_datasets(["all"], catalog)
    assert len(chosen) == 87 and not problems
    assert all(m.kind == "catalog" for m in chosen)
    ct, _ = select_datasets(["modality=CT"], catalog)
    assert len(ct) == 46 and {m.modality for m in ct} == {"CT"}
    lesions, _ = select_datasets(["modality=ct", "target=Lesion", "size=small"], catalog)
    assert lesions and all(m.modality == "CT" and m.target == "lesion" and m.size == "small" for m in lesions)
    either, _ = select_datasets(["modality=CT", "modality=MRI"], catalog)
    assert len(either) == 46 + 37  # the demo (MRI) is not a benchmark dataset
    seen, _ = select_datasets(["target=seen-structure"], catalog)
    assert {m.target for m in seen} == {"seen structure"}


def test_names_aliases_and_the_demo_by_name_only(catalog):
    chosen, problems = select_datasets(["Spleen", "9", "Demo"], catalog)
    assert [m.task_id for m in chosen] == ["Task009_Spleen", "Task009_Spleen", "Task999_SegBookDemo"]
    assert not problems


def test_bad_names_and_filters_are_collected_not_raised(catalog):
    _, problems = select_datasets(["Splen", "modality=XR", "colour=red"], catalog)
    kinds = {p.kind: p for p in problems}
    assert set(kinds) == {"unknown dataset", "unknown modality", "unknown filter"}
    assert all(p.code == ExitCode.USAGE for p in problems)
    assert "Task009_Spleen" in kinds["unknown dataset"].detail and "'XR'" in kinds["unknown modality"].detail


def test_configs_and_folds():
    assert select_configs(["paper"]) == (list(PAPER_CONFIGS), [])
    assert PAPER_CONFIGS == ("nnunet", "stunet-b_scratch", "stunet-l_scratch", "stunet-h_scratch", "stunet-b_ft",
                             "stunet-l_ft", "stunet-h_ft")
    assert select_folds(["all", "0-4"])[0] == ["all", "0", "1", "2", "3", "4"]
    assert select_folds(["0", "2"])[0] == ["0", "2"]
    for bad in (["5"], ["3-1"], ["x"]):
        assert select_folds(bad)[1][0].code == ExitCode.USAGE
    assert select_configs(["stunet-x_ft"])[1][0].code == ExitCode.USAGE


def test_cells_have_one_stable_order_and_repeats_are_duplicates(catalog):
    a, _ = select_datasets(["Task010_Colon", "Task009_Spleen"], catalog)
    b, _ = select_datasets(["Task009_Spleen", "Task010_Colon"], catalog)
    cells_a, _ = make_cells(a, ["stunet-b_ft", "nnunet"], ["1", "all"], catalog)
    cells_b, _ = make_cells(b, ["nnunet", "stunet-b_ft"], ["all", "1"], catalog)
    assert cells_a == cells_b
    assert [c.id for c in cells_a[:2]] == ["Task009_Spleen/nnunet/all", "Task009_Spleen/nnunet/1"]
    twice, _ = select_datasets(["Spleen", "Task009_Spleen"], catalog)
    cells, problems = make_cells(twice, ["nnunet"], ["all"], catalog)
    assert len(cells) == 1 and [p.code for p in problems] == [ExitCode.DATA_INVALID]


def test_the_throughput_table_says_it_holds_estimates():
    table = load_throughput()
    assert table.status == "estimate"
    assert table.models["stunet-h"]["parameters"] == 1_457_326_221
    assert table.seconds_per_iteration("nnunet") == pytest.approx(0.178)
    # STU-Net-H costs its multiply-accumulates relative to nnU-Net's
    assert table.seconds_per_iteration("stunet-h") == pytest.approx(0.178 * 12593.4 / 541.8)
    assert table.seconds_per_iteration("stunet-s") == table.floor_seconds


def test_demo_grid_is_written_with_its_hash_and_cost(tmp_path):
    weights = tmp_path / "weights" / "demo.model"
    weights.parent.mkdir()
    weights.write_bytes(b"not checked at plan time beyond presence and pin")
    result = run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "nnunet,stunet-s_scratch,stunet-s_ft",
                         "--folds", "all,0", "--grid", str(tmp_path / "grid"), "--out", str(tmp_path / "out"),
                         "--weights", f"S={weights}", "--trust-unpinned", *TINY)
    assert result.returncode == 0, result.stderr
    assert "grid: 6 cells (1 dataset(s) x 3 configuration(s) x 2 fold setting(s))" in result.stdout
    assert "ESTIMATES" in result.stdout and "assumptions (estimate)" in result.stdout
    for config in ("nnunet", "stunet-s_scratch", "stunet-s_ft", "total"):
        assert re.search(rf"^  {re.escape(config)}\s+\d+", result.stdout, re.MULTILINE), result.stdout
    grid = read_grid(tmp_path / "grid")
    assert [e.cell.id for e in grid.entries][:3] == ["Task999_SegBookDemo/nnunet/all", "Task999_SegBookDemo/nnunet/0",
                                                     "Task999_SegBookDemo/stunet-s_scratch/all"]
    assert [e.weights for e in grid.entries if e.cell.configuration == "stunet-s_ft"] == [str(weights)] * 2
    assert grid.settings.options.epochs == 1 and grid.settings.trust_unpinned
    assert (tmp_path / "grid" / "estimate.txt").read_text().startswith("GPU-hours")
    again = run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "nnunet", "--grid", str(tmp_path / "grid"),
                        "--out", str(tmp_path / "out"))
    assert_two_line_error(again, 73, "already exists", "--force")
    forced = run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "nnunet", "--grid",
                         str(tmp_path / "grid"), "--out", str(tmp_path / "out"), "--force")
    assert forced.returncode == 0 and len(read_grid(tmp_path / "grid").entries) == 1


def test_a_hand_edited_grid_is_refused_by_every_later_command(tmp_path):
    run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "nnunet,stunet-s_scratch", "--grid",
                str(tmp_path / "grid"), "--out", str(tmp_path / "out"), check=True)
    path = tmp_path / "grid" / "grid.tsv"
    path.write_text(path.read_text().replace("stunet-s_scratch", "stunet-h_scratch"))
    for command in (["status"], ["report"], ["submit", "--dry-run"], ["resubmit", "--failed", "--dry-run"]):
        assert_two_line_error(run_segbook("grid", *command, str(tmp_path / "grid")), 65, "sha256")


def test_every_problem_of_the_grid_in_one_error_before_anything_is_written(tmp_path):
    manifests = manifests_with_locks(tmp_path / "manifests", ["Task009_Spleen"])
    (tmp_path / "spleen").mkdir()
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump({"Spleen": str(tmp_path / "spleen"), "Task010_Colon": str(tmp_path / "gone"),
                                    "Task011_BTCV": str(tmp_path / "btcv")}))
    env = {"SEGBOOK_MANIFESTS": str(manifests), "SEGBOOK_WEIGHTS_DIR": ""}
    grid = tmp_path / "grid"
    result = run_segbook("grid", "plan", "--datasets", "Spleen,Task010_Colon,Task003_Liver", "--configs",
                         "nnunet,stunet-b_ft", "--data", str(data), "--grid", str(grid), "--out",
                         str(tmp_path / "out"), env=env)
    assert_two_line_error(result, 66, "raw folder missing: Task010_Colon", "no raw folder in",
                          "Task003_Liver", "no lock yet: Task010_Colon", "no weights given: STU-Net-B")
    assert not grid.exists()
    # usage problems win over missing inputs; duplicates are invalid input (65)
    unknown = run_segbook("grid", "plan", "--datasets", "Spleen,Splen", "--data", str(data), "--grid", str(grid),
                          "--out", str(tmp_path / "out"), env=env)
    assert_two_line_error(unknown, 2, "unknown dataset: 'Splen' (did you mean Task009_Spleen")
    duplicate = run_segbook("grid", "plan", "--datasets", "Spleen,9", "--configs", "nnunet", "--data", str(data),
                            "--grid", str(grid), "--out", str(tmp_path / "out"), env=env)
    assert_two_line_error(duplicate, 65, "duplicate cell: Task009_Spleen/nnunet/all (x2)")
    # an unpinned checkpoint for a fine-tuned cell: 65 unless --trust-unpinned
    weights = tmp_path / "w" / "base_ep4k.model"
    weights.parent.mkdir()
    weights.write_bytes(b"x")
    unpinned = run_segbook("grid", "plan", "--datasets", "Spleen", "--configs", "stunet-b_ft", "--data", str(data),
                           "--grid", str(grid), "--out", str(tmp_path / "out"), "--weights-dir", str(weights.parent),
                           env=env)
    assert_two_line_error(unpinned, 65, "weights not pinned", "STU-Net-B")
    assert not grid.exists()
    for name in ("large_ep4k.model", "huge_ep4k.model"):
        (weights.parent / name).write_bytes(b"x")
    ok = run_segbook("grid", "plan", "--datasets", "Spleen", "--configs", "paper", "--data", str(data),
                     "--grid", str(grid), "--out", str(tmp_path / "out"), "--weights-dir", str(weights.parent),
                     "--trust-unpinned", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "grid: 7 cells" in ok.stdout
    planned = {e.cell.configuration: e.weights for e in read_grid(grid).entries}
    assert planned["stunet-h_ft"] == str(weights.parent / "huge_ep4k.model") and planned["nnunet"] is None
    assert all(e.raw == str(tmp_path / "spleen") for e in read_grid(grid).entries)
